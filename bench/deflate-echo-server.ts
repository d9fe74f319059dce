/**
 * A light permessage-deflate echo server, so that a *client* is the
 * bottleneck of a compressed echo (with a `ws` server on two cores, the
 * server is, and every client looks the same).
 *
 * It accepts a permessage-deflate offer as is (both windows 15 bits, context
 * takeover kept: the defaults) and sends every data frame back verbatim,
 * compressed payload and RSV1 included, unmasked. That is a valid compressed
 * server message: the client's inflater sees exactly the bytes its deflater
 * produced, in the same order, so their LZ77 windows hold the same history.
 * No zlib runs here. Pings get pongs; a close is answered and the socket
 * ended. 127.0.0.1, port as the last argument (0: any; the port is printed).
 *
 *   node dist/bench/deflate-echo-server.js 9400
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function header(b0: number, n: number): Buffer {
  if (n < 126) return Buffer.from([b0, n]);
  const h = Buffer.allocUnsafe(n < 65536 ? 4 : 10);
  h[0] = b0;
  if (n < 65536) {
    h[1] = 126;
    h.writeUInt16BE(n, 2);
  } else {
    h[1] = 127;
    h.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    h.writeUInt32BE(n >>> 0, 6);
  }
  return h;
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let buf: Buffer = Buffer.alloc(0);
  let open = false;
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const deflate = /^sec-websocket-extensions:.*permessage-deflate/im.test(head);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n` +
          (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
          '\r\n',
      );
      buf = buf.subarray(end + 4);
      open = true;
    }
    let at = 0;
    socket.cork();
    while (buf.length - at >= 2) {
      const b0 = buf[at];
      let n = buf[at + 1] & 0x7f;
      let h = 2;
      if (n === 126) {
        if (buf.length - at < 4) break;
        n = buf.readUInt16BE(at + 2);
        h = 4;
      } else if (n === 127) {
        if (buf.length - at < 10) break;
        n = buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6);
        h = 10;
      }
      if (buf.length - at < h + 4 + n) break;
      const mask = buf.subarray(at + h, at + h + 4);
      const payload = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) payload[i] = buf[at + h + 4 + i] ^ mask[i & 3];
      at += h + 4 + n;
      const opcode = b0 & 0x0f;
      if (opcode === 0x8) {
        socket.write(Buffer.concat([header(0x88, n), payload]));
        socket.end();
        break;
      }
      socket.write(Buffer.concat([header(opcode === 0x9 ? 0x8a : b0, n), payload]));
    }
    socket.uncork();
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  });
}

if (require.main === module) {
  const server = net.createServer(serve);
  server.listen(Number(process.argv[process.argv.length - 1]) || 0, '127.0.0.1', () => {
    process.stdout.write(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}\n`);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
}
