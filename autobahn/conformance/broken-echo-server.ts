/**
 * A deliberately broken echo server: correct RFC 6455 opening handshake, but
 * the frame layer ignores RSV bits and reserved opcodes (echoes them back
 * verbatim), does not validate UTF-8, close codes, control-frame sizes or
 * fragmentation rules. It does answer pings and close frames. Used to prove
 * that the conformance runner reports FAILED cases.
 *
 * ```
 * node -r ts-node/register/transpile-only autobahn/conformance/broken-echo-server.ts [--port 9002] [--mode echo|drop]
 * ```
 * `--mode echo` (default) echoes frames with reserved opcodes/RSV bits back;
 * `--mode drop` silently discards them.
 *
 * @packageDocumentation
 */

import * as net from 'node:net';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/** How the broken server treats frames with RSV bits / reserved opcodes. */
export type BrokenMode = 'echo' | 'drop';

/** A running broken server. */
export interface RunningBrokenServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

function frame(b0: number, payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? Buffer.from([b0, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    hdr[0] = b0;
    hdr[1] = 126;
    hdr.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    hdr[0] = b0;
    hdr[1] = 127;
    hdr.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([hdr, payload]);
}

function handle(sock: net.Socket, mode: BrokenMode): void {
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let closed = false;
  sock.on('error', () => undefined);
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      buf = buf.subarray(end + 4);
      const key = /^sec-websocket-key:\s*(.+)$/im.exec(head)?.[1].trim();
      if (!key) {
        sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      upgraded = true;
    }
    for (;;) {
      if (buf.length < 2) return;
      const b0 = buf[0];
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const mk = masked ? buf.subarray(off, off + 4) : null;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (mk) for (let i = 0; i < payload.length; i++) payload[i] ^= mk[i & 3];
      buf = buf.subarray(off + len);
      if (closed) continue;
      const opcode = b0 & 0x0f;
      const rsv = b0 & 0x70;
      const reserved = (opcode >= 3 && opcode <= 7) || opcode >= 11;
      if ((rsv || reserved) && mode === 'drop') continue;
      if (opcode === 0x8) {
        closed = true;
        sock.write(frame(0x88, payload)); // echo close payload verbatim (even invalid codes)
        sock.end();
        return;
      }
      if (opcode === 0x9) {
        sock.write(frame(0x8a | rsv, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      sock.write(frame(b0, payload)); // echo data frames frame-by-frame, RSV bits and opcode included
    }
  });
}

/** Start the broken server on 127.0.0.1 (port 0 = any free port). */
export function startBrokenEchoServer(port = 0, mode: BrokenMode = 'echo'): Promise<RunningBrokenServer> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      handle(s, mode);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = (server.address() as AddressInfo).port;
      resolve({
        port: p,
        url: `ws://127.0.0.1:${p}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

if (require.main === module) {
  const arg = (n: string): string | undefined => {
    const i = process.argv.indexOf(n);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const mode = (arg('--mode') ?? 'echo') as BrokenMode;
  startBrokenEchoServer(Number(arg('--port') ?? 9002), mode).then((s) => console.log(`broken echo server (${mode}) listening on ${s.url}`));
}
