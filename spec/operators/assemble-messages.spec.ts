import { expect } from 'chai';
import { lastValueFrom, of, take, toArray } from 'rxjs';
import {
  assembleMessages,
  InvalidPayloadError,
  MessageTooBigError,
  Opcode,
  OutgoingFrame,
  ProtocolError,
} from '../../lib';
import { createPair } from '../../lib/testing';
import { testScheduler } from './marbles';

const f = (fin: boolean, opcode: number, payload: string | Buffer): OutgoingFrame => ({
  fin,
  opcode,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
});

describe('assembleMessages', () => {
  it('rebuilds messages from frames and skips control frames between fragments', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const frames = cold('-a-p-b-c-d|', {
        a: f(false, Opcode.Text, 'he'),
        p: f(true, Opcode.Ping, ''),
        b: f(true, Opcode.Continuation, 'llo'),
        c: f(true, Opcode.Binary, Buffer.from([1, 2])),
        d: f(true, Opcode.Pong, 'x'),
      });
      expectObservable(frames.pipe(assembleMessages())).toBe('-----x-y--|', { x: 'hello', y: Buffer.from([1, 2]) });
      expectSubscriptions(frames.subscriptions).toBe('^---------!');
    });
  });

  it('errors with typed errors on frames out of order, bad UTF-8 and oversize, and unsubscribes', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const orphan = cold('-a-', { a: f(true, Opcode.Continuation, 'x') });
      expectObservable(orphan.pipe(assembleMessages())).toBe(
        '-#',
        undefined,
        new ProtocolError('continuation frame with no message open', 'WS_ERR_INVALID_CONTINUATION'),
      );
      expectSubscriptions(orphan.subscriptions).toBe('^!');

      const interleaved = cold('-ab', { a: f(false, Opcode.Text, 'x'), b: f(true, Opcode.Binary, 'y') });
      expectObservable(interleaved.pipe(assembleMessages())).toBe(
        '--#',
        undefined,
        new ProtocolError('new message inside a fragmented one', 'WS_ERR_EXPECTED_CONTINUATION'),
      );

      const badUtf8 = cold('-a', { a: f(true, Opcode.Text, Buffer.from([0xc3, 0x28])) });
      expectObservable(badUtf8.pipe(assembleMessages())).toBe('-#', undefined, new InvalidPayloadError('text message is not valid UTF-8'));

      const big = cold('-ab', { a: f(false, Opcode.Binary, 'abc'), b: f(true, Opcode.Continuation, 'def') });
      expectObservable(big.pipe(assembleMessages({ maxPayload: 5 }))).toBe(
        '--#',
        undefined,
        new MessageTooBigError('message over 5 bytes', 5),
      );
      expectSubscriptions(big.subscriptions).toBe('^-!');
    });
  });

  it('rebuilds what a real peer sent in fragments, from conn.frames$', async () => {
    const { client, server } = createPair();
    const messages = lastValueFrom(server.frames$.pipe(assembleMessages(), take(2), toArray()));
    client.send('a fragmented text ✓', { fragmentSize: 4 });
    client.send(Buffer.alloc(100, 3), { fragmentSize: 9 });
    expect(await messages).to.deep.equal(['a fragmented text ✓', Buffer.alloc(100, 3)]);
    client.complete();
  });

  it('errors with MessageTooBigError (1009) for a text too long to be a JavaScript string, not a throw from next', async () => {
    const { constants } = await import('node:buffer');
    const big = Buffer.alloc(constants.MAX_STRING_LENGTH + 1, 0x61);
    const error = await lastValueFrom(of(f(true, Opcode.Text, big)).pipe(assembleMessages())).then(
      (m) => new Error(`emitted a ${typeof m}`),
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(MessageTooBigError);
    expect((error as MessageTooBigError).closeCode).to.equal(1009);
    expect((error as MessageTooBigError).limit).to.equal(constants.MAX_STRING_LENGTH);
  });
});
