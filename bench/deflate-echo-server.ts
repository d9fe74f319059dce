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
import { frameReader, writeHeader } from './frame-header';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  const read = frameReader(
    true,
    (head) => {
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const deflate = /^sec-websocket-extensions:.*permessage-deflate/im.test(head);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n` +
          (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
          '\r\n',
      );
      return true;
    },
    (b0, payload) => {
      const opcode = b0 & 0x0f;
      if (opcode === 0x8) {
        socket.end(Buffer.concat([writeHeader(0x88, payload.length, false), payload]));
        return false;
      }
      socket.write(Buffer.concat([writeHeader(opcode === 0x9 ? 0x8a : b0, payload.length, false), payload]));
      return true;
    },
  );
  socket.on('data', (chunk: Buffer) => {
    socket.cork();
    read(chunk);
    socket.uncork();
  });
}

if (require.main === module) {
  const server = net.createServer(serve);
  server.listen(Number(process.argv[process.argv.length - 1]) || 0, '127.0.0.1', () => {
    process.stdout.write(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}\n`);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
}
