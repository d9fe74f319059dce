/**
 * A light permessage-deflate load client: it makes a server the bottleneck
 * of a compressed echo, as wsload does for plain frames, so that the
 * server's own cost shows in its throughput (with `ws` clients on two cores,
 * the clients are the bottleneck and every server looks the same).
 *
 * It negotiates `permessage-deflate; client_no_context_takeover;
 * server_no_context_takeover` (RFC 7692 §7.1.1, §7.1.2), so each message is
 * compressed on its own in both directions: it compresses its message once
 * and sends that compressed payload in every frame, masked with a fresh
 * random key each time, and it checks every echo without inflating it: the
 * first echo of each connection is inflated and must equal the message;
 * later echoes must be byte for byte the first one's compressed payload
 * (a server without context takeover compresses the same text the same
 * way), else they are inflated and compared, and a difference counts as a
 * mismatch. The server still inflates, validates and deflates every message.
 *
 *   node dist/bench/deflate-load.js PORT [size=4096] [messages=40000] [connections=8] [window=16]
 *
 * Prints one JSON line: msgs_per_s (over first send to last echo),
 * messages, mismatches, errors.
 */
import { randomFillSync, randomBytes } from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { frameReader, writeHeader } from './frame-header';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * The compressed benchmarks' text: JSON-like records with varying numbers
 * and words, which deflate to about a quarter (4 KiB: 24 %; 256 B: 55 %),
 * like real application messages. Deterministic.
 */
export function deflateBenchText(size: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'update', 'insert', 'remove', 'price', 'volume', 'user', 'order'];
  let x = 7;
  // The high bits of a 32-bit LCG (its low bits have short periods).
  const next = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  let s = '';
  while (s.length < size) {
    s +=
      `{"id":${next() % 100000},"type":"${words[next() % words.length]}",` +
      `"price":${((next() % 100000) / 100).toFixed(2)},"tag":"${words[next() % words.length]}-${next() % 1000}"} `;
  }
  return s.slice(0, size);
}

/** RFC 7692 §7.2.1: compress, flush, drop the trailing 00 00 ff ff. */
function compress(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function inflate(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

const keyPool = Buffer.allocUnsafeSlow(4096);
let keyAt = keyPool.length;

/** A masked text frame with RSV1 (compressed) around `payload`. */
function clientFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = writeHeader(0xc1, n, true);
  const frame = Buffer.allocUnsafe(head.length + 4 + n);
  head.copy(frame, 0);
  if (keyAt + 4 > keyPool.length) {
    randomFillSync(keyPool);
    keyAt = 0;
  }
  const k = head.length;
  keyPool.copy(frame, k, keyAt, keyAt + 4);
  keyAt += 4;
  for (let i = 0; i < n; i++) frame[k + 4 + i] = payload[i] ^ frame[k + (i & 3)];
  return frame;
}

interface LoadResult {
  msgs_per_s: number;
  messages: number;
  mismatches: number;
  errors: number;
  compressed_bytes: number;
  echo_bytes: number;
}

/** Opens `connections`, each echoing `per` messages with `window` in flight. */
export async function deflateLoad(port: number, size: number, total: number, connections: number, window: number): Promise<LoadResult> {
  const message = Buffer.from(deflateBenchText(size));
  const compressed = compress(message);
  const per = Math.floor(total / connections);
  let mismatches = 0;
  let errors = 0;
  let echoBytes = 0;
  let startAll: () => void = () => undefined;
  const started = new Promise<void>((r) => (startAll = r));
  let t0 = 0n;

  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      let sent = 0;
      let received = 0;
      let reference: Buffer | null = null;
      let failed = false;
      const fail = (): void => {
        if (failed) return;
        failed = true;
        errors++;
        socket.destroy();
        resolve();
      };
      socket.on('error', fail);
      socket.on('connect', () => {
        socket.write(
          `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
            'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n\r\n',
        );
      });
      const send = (): void => {
        sent++;
        socket.write(clientFrame(compressed));
      };
      socket.on(
        'data',
        frameReader(
          false,
          (head) => {
            if (!head.startsWith('HTTP/1.1 101') || !/server_no_context_takeover/i.test(head) || !/permessage-deflate/i.test(head)) {
              process.stderr.write(`deflate-load: handshake not as asked:\n${head}\n`);
              fail();
              return false;
            }
            started.then(() => {
              for (let i = 0; i < window && sent < per; i++) send();
            });
            opened();
            return true;
          },
          (b0, payload) => {
            if ((b0 & 0x0f) !== 0x1) return true; // not a text message (a ping, say): ignore
            echoBytes += payload.length;
            if (reference !== null && payload.equals(reference)) {
              // byte for byte the verified first echo
            } else {
              const text = b0 & 0x40 ? inflate(payload) : payload;
              if (!text.equals(message)) mismatches++;
              else if (reference === null && b0 & 0x40) reference = Buffer.from(payload);
            }
            received++;
            if (sent < per) send();
            if (received < per) return true;
            socket.destroy();
            resolve();
            return false;
          },
        ),
      );
      // Closed before its last echo (and not counted yet): a failure too.
      socket.on('close', () => (received < per ? fail() : resolve()));
    });

  let openCount = 0;
  const opened = (): void => {
    if (++openCount === connections) {
      t0 = process.hrtime.bigint();
      startAll();
    }
  };
  await Promise.all(Array.from({ length: connections }, one));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    msgs_per_s: Math.round((per * connections) / seconds),
    messages: per * connections,
    mismatches,
    errors,
    compressed_bytes: compressed.length,
    echo_bytes: echoBytes,
  };
}

if (require.main === module) {
  const [port, size = '4096', total = '40000', connections = '8', window = '16'] = process.argv.slice(2);
  deflateLoad(Number(port), Number(size), Number(total), Number(connections), Number(window)).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(r.errors === 0 && r.mismatches === 0 ? 0 : 1);
    },
    (e: Error) => {
      console.error(`deflate-load: ${e.message}`);
      process.exit(2);
    },
  );
}
