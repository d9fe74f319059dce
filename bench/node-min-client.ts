/**
 * The seed's client workload (examples/bench.ts) with the least work a client
 * on `node:net` can do: the client-side counterpart of the bench harness's
 * `node_min_echo.js`. It is the ceiling for any WebSocket client library on
 * Node, measured beside ws-rx and ws by bench/run.ts (part "client").
 *
 *   node dist/bench/node-min-client.js ws://127.0.0.1:8080 10000 10
 *
 * Same arguments, messages, checks and JSON line (`client: "node-min"`) as
 * examples/bench.ts and bench/ws-client.ts. What it leaves out: URL parsing
 * beyond host and port, checking the server's Sec-WebSocket-Accept and
 * headers, UTF-8 validation, fragmentation, control frames other than close,
 * and any API above the socket. It still masks every frame with a fresh key
 * (a cheap Math.random one, not a CSPRNG) and checks every echo.
 *
 * `--handle` (client `"handle-min"`): the same on libuv's TCP handle
 * (ws-rx's `connectHandle`, no `net.Socket`): the ceiling for a client that
 * connects as ws-rx's does. The URL's host must then be an IP address.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { makeMessages, parseArgs, runConnections, Tally } from '../examples/bench-workload';
import { connectHandle, handleBindings } from '../lib/transport/handle-socket';
import type { ByteStream } from '../lib/transport/stream-transport';
import { frameReader, writeHeader } from './frame-header';

const argv = process.argv.slice(2);
const onHandle = argv.includes('--handle');
const args = parseArgs(argv.filter((a) => a !== '--handle'));
const message = makeMessages(args.size);
const tally = new Tally(args, { client: onHandle ? 'handle-min' : 'node-min' });
const url = new URL(args.url);
const host = url.hostname;
const port = Number(url.port || 80);
if (onHandle && (net.isIP(host) === 0 || handleBindings() === null)) {
  console.error(`--handle needs an IP address (not ${host}) and Node's handle classes`);
  process.exit(2);
}
const request =
  `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A masked frame: first byte `b0`, `payload` masked with a fresh key. */
function frame(b0: number, payload: Buffer): Buffer[] {
  const key = Buffer.allocUnsafe(4);
  key.writeUInt32LE((Math.random() * 0x100000000) >>> 0, 0);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ key[i & 3];
  return [writeHeader(b0, payload.length, true), key, masked];
}

function send(socket: ByteStream, b0: number, payload: Buffer): void {
  socket.cork();
  for (const part of frame(b0, payload)) socket.write(part);
  socket.uncork();
}

const CLOSE_1000 = Buffer.from([0x03, 0xe8]);

function openHandle(): ByteStream {
  return connectHandle(host, port)!.setNoDelay(true);
}

/** One connection: open, M ping-pongs, close (1000); resolves when the socket is closed. */
const run = (id: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const socket = onHandle ? openHandle() : net.connect({ host, port, noDelay: true });
    let seq = 0;
    let ok = false;
    const sendMessage = (): void => send(socket, 0x81, Buffer.from(message(id, seq)));
    socket.on('connect', () => socket.write(request));
    socket.on(
      'data',
      frameReader(
        false,
        (head) => {
          if (!head.startsWith('HTTP/1.1 101')) {
            socket.destroy();
            return false;
          }
          if (args.messages === 0) send(socket, 0x88, CLOSE_1000);
          else sendMessage();
          return true;
        },
        (b0, payload) => {
          const opcode = b0 & 0x0f;
          if (opcode === 0x8) {
            ok = seq === args.messages && (payload.length === 0 || payload.readUInt16BE(0) === 1000);
            socket.end();
            return false;
          }
          if (opcode !== 0x1 || payload.toString() !== message(id, seq)) {
            tally.mismatches++;
            socket.destroy();
            return false;
          }
          tally.echoes++;
          if (++seq < args.messages) sendMessage();
          else send(socket, 0x88, CLOSE_1000);
          return true;
        },
      ),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      if (ok) tally.done++;
      else tally.errors++;
      resolve();
    });
  });

async function main(): Promise<void> {
  await runConnections(args, run);
  tally.finish();
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 2;
});
