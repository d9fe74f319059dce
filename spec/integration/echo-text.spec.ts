/**
 * Forwarding a text message: a string from messages$ sent on during its own
 * emission (an echo, a proxy) goes out as the bytes it arrived in, with no
 * re-encoding; sent later, it is encoded like any string (the connection
 * does not keep received messages alive).
 */
import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { Connection } from '../../lib';
import { createPair } from '../../lib/testing';

interface CoreSends {
  sendText(text: string, fragmentSize?: number): boolean;
  sendBinary(data: Buffer, fragmentSize?: number, text?: boolean): boolean;
}

/** Records which way the core is asked to send: 'bytes' (text from bytes), 'encode' (from a string), 'binary'. */
function spySends(conn: Connection): string[] {
  const core = (conn as unknown as { transport: { protocol: CoreSends } }).transport.protocol;
  const calls: string[] = [];
  const sendText = core.sendText.bind(core);
  const sendBinary = core.sendBinary.bind(core);
  core.sendText = (text, fragmentSize) => {
    calls.push('encode');
    return sendText(text, fragmentSize);
  };
  core.sendBinary = (data, fragmentSize, text) => {
    calls.push(text ? 'bytes' : 'binary');
    return sendBinary(data, fragmentSize, text);
  };
  return calls;
}

describe('Connection: forwarding text', () => {
  it('sends a received string on with the bytes it arrived in during its emission, and encodes it when sent later', async () => {
    const { client, server } = createPair();
    const calls = spySends(server);
    const received: string[] = [];
    server.messages$.subscribe((m) => {
      received.push(m as string);
      server.next(m); // synchronous echo
    });
    const echoes = firstValueFrom(client.messages$.pipe(take(3), toArray()));
    client.next('héllo ✓ '.repeat(100));
    client.next('second');
    await firstValueFrom(client.messages$.pipe(take(2), toArray()));
    server.next(received[1]); // the last message received, after its emission
    expect(await echoes).to.deep.equal(['héllo ✓ '.repeat(100), 'second', 'second']);
    expect(calls).to.deep.equal(['bytes', 'bytes', 'encode']);
    client.complete();
    await server.closed;
  });

  it('does the same for messages that arrived before the first subscriber (held, then delivered)', async () => {
    const { client, server } = createPair();
    const calls = spySends(server);
    client.next('early ✓');
    // The pong comes back after the server parsed the message before the ping:
    // it is held now, nobody subscribes to server.messages$ yet.
    await firstValueFrom(client.ping());
    const echo = firstValueFrom(client.messages$);
    server.messages$.subscribe(server);
    expect(await echo).to.equal('early ✓');
    expect(calls).to.deep.equal(['bytes']);
    client.complete();
    await server.closed;
  });
});
