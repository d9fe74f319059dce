/**
 * acceptStream hands the transport over without pausing the socket when the
 * caller starts it at once (listen, attach, upgrade do); a caller that
 * starts it later still gets every byte that arrived meanwhile.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { acceptStream, type Accepted, type AcceptOptions } from '../../lib/transport/accept';
import type { ByteStream, TransportListener } from '../../lib/transport/stream-transport';
import { clientFrame } from '../helpers';
import { handleServer, RAW_UPGRADE, within } from './util';

const OPTIONS = { maxPayload: 1 << 20, highWaterMark: 1 << 18, closeTimeout: 1000, handshakeTimeout: 5000, maxHeaderSize: 16384 };
const REQUEST = RAW_UPGRADE + '\r\n';

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

type Kind = 'net.Socket' | 'HandleSocket';

/** A server on 127.0.0.1 whose connections reach `onSocket` as net.Sockets or as HandleSockets (input by setSink). */
async function serve(kind: Kind, onSocket: (socket: ByteStream) => void): Promise<net.Server> {
  if (kind === 'HandleSocket') return handleServer(onSocket);
  const server = net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

/** Accept options whose handshake hook waits for the test: `inHook` resolves when it is called, `answer` answers it. */
function pendingHook(): { options: AcceptOptions; inHook: Promise<void>; answer: (accept: boolean) => void } {
  let called!: () => void;
  const inHook = new Promise<void>((r) => (called = r));
  let answer: (accept: boolean) => void = () => expect.fail('answered before the hook ran');
  const options: AcceptOptions = {
    ...OPTIONS,
    handshake: () => {
      called();
      return new Promise<boolean>((r) => (answer = r));
    },
  };
  return { options, inHook, answer: (accept) => answer(accept) };
}

describe('integration/acceptStream', () => {
  for (const kind of ['net.Socket', 'HandleSocket'] as const) {
    it(`${kind}: a socket that closes while an asynchronous hook decides ends the handshake then, not when the hook answers`, async () => {
      const { options, inHook, answer } = pendingHook();
      let outcome!: (v: [Accepted | null, string | undefined, number | undefined]) => void;
      const ended = new Promise<[Accepted | null, string | undefined, number | undefined]>((r) => (outcome = r));
      const server = await serve(kind, (socket) => acceptStream(socket, options, (acc, reason, status) => outcome([acc, reason, status])));
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      try {
        client.on('error', () => undefined);
        client.write(REQUEST);
        await within(inHook, 5000, 'the hook');
        client.destroy();
        const [acc, reason, status] = await within(ended, 2000, 'the handshake to end');
        expect(acc).to.equal(null);
        expect(reason).to.equal('socket closed during the handshake');
        expect(status).to.equal(0);
        answer(true); // too late: nothing happens
      } finally {
        client.destroy();
        server.close();
      }
    });
  }

  for (const kind of ['net.Socket', 'HandleSocket'] as const) {
    it(`${kind}: frames sent while an asynchronous hook decides reach the transport whole and in order, past the holding limit too`, async () => {
      const big = 'x'.repeat(100 * 1024); // over the 64 KiB a HandleSocket holds before it pauses
      const messages: string[] = [];
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const { options, inHook, answer } = pendingHook();
      let accepted: Accepted | null = null;
      const server = await serve(kind, (socket) =>
        acceptStream(socket, options, (acc) => {
          if (acc === null) return;
          accepted = acc;
          acc.transport.listener = collector(messages, done);
          acc.transport.start();
        }),
      );
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      try {
        client.on('error', () => undefined);
        client.write(Buffer.concat([Buffer.from(REQUEST), clientFrame(0x1, 'one')]));
        await within(inHook, 5000, 'the hook');
        client.write(clientFrame(0x1, big));
        client.write(clientFrame(0x1, 'three'));
        await new Promise((r) => setTimeout(r, 50));
        answer(true);
        await within(all, 5000, 'three messages');
        expect(messages.map((m) => (m.length > 10 ? `${m.length} x` : m))).to.deep.equal(['one', `${big.length} x`, 'three']);
        expect(messages[1]).to.equal(big);
      } finally {
        client.destroy();
        (accepted as Accepted | null)?.transport.destroy();
        server.close();
      }
    });
  }

  for (const [kind, delay] of [['net.Socket', 0], ['net.Socket', 40], ['HandleSocket', 0], ['HandleSocket', 40]] as const) {
    it(`${kind}: a transport started ${delay ? `${delay} ms after` : 'inside'} the callback gets the frames sent with the request and after it`, async () => {
      const messages: string[] = [];
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      let accepted: Accepted | null = null;
      const server = await serve(kind, (socket) => {
        acceptStream(socket, OPTIONS, (acc) => {
          if (acc === null) return;
          accepted = acc;
          acc.transport.listener = collector(messages, done);
          if (delay === 0) acc.transport.start();
          else setTimeout(() => acc.transport.start(), delay);
        });
      });
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
