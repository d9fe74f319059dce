/**
 * acceptStream hands the transport over without pausing the socket when the
 * caller starts it at once (listen, attach, upgrade do); a caller that
 * starts it later still gets every byte that arrived meanwhile.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { acceptStream, type Accepted } from '../../lib/transport/accept';
import type { TransportListener } from '../../lib/transport/stream-transport';
import { clientFrame } from '../helpers';
import { within } from './util';

const OPTIONS = { maxPayload: 1 << 20, highWaterMark: 1 << 18, closeTimeout: 1000, handshakeTimeout: 5000, maxHeaderSize: 16384 };
const REQUEST =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

function collector(messages: string[], onThree: () => void): TransportListener {
  return {
    onMessage: (data) => {
      messages.push(data.toString());
      if (messages.length === 3) onThree();
    },
    onFrame: () => undefined,
    onPing: () => undefined,
    onPong: () => undefined,
    onCloseFrame: () => undefined,
    onDrain: () => undefined,
    onClosed: () => undefined,
  };
}

describe('integration/acceptStream', () => {
  for (const delay of [0, 40]) {
    it(`a transport started ${delay ? `${delay} ms after` : 'inside'} the callback gets the frames sent with the request and after it`, async () => {
      const messages: string[] = [];
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      let accepted: Accepted | null = null;
      const server = net.createServer((socket) => {
        acceptStream(socket, OPTIONS, (acc) => {
          if (acc === null) return;
          accepted = acc;
          acc.transport.listener = collector(messages, done);
          if (delay === 0) acc.transport.start();
          else setTimeout(() => acc.transport.start(), delay);
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      try {
        socket.on('error', () => undefined);
        socket.write(Buffer.concat([Buffer.from(REQUEST), clientFrame(0x1, 'one'), clientFrame(0x1, 'two')]));
        await new Promise((r) => setTimeout(r, 15));
        socket.write(clientFrame(0x1, 'three'));
        await within(all);
        expect(messages).to.deep.equal(['one', 'two', 'three']);
      } finally {
        socket.destroy();
        (accepted as Accepted | null)?.transport.destroy();
        server.close();
      }
    });
  }
});
