import { expect } from 'chai';
import { from, lastValueFrom, toArray } from 'rxjs';
import { assembleMessages, fragment, Opcode, OutgoingFrame } from '../../lib';
import { createPair } from '../../lib/testing';
import { testScheduler } from './marbles';

const f = (fin: boolean, opcode: number, payload: string): OutgoingFrame => ({ fin, opcode, payload: Buffer.from(payload) });

describe('fragment', () => {
  it('splits each message into frames of at most `size` bytes, text as text and bytes as binary', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<string | Buffer>('a 9ms b 9ms c 9ms |', { a: 'hello', b: Buffer.from('xyz'), c: '' });
      // A group '(def)' takes as many frames as it has characters.
      expectObservable(source.pipe(fragment(2))).toBe('(def) 5ms (gh) 6ms i 9ms |', {
        d: f(false, Opcode.Text, 'he'),
        e: f(false, Opcode.Continuation, 'll'),
        f: f(true, Opcode.Continuation, 'o'),
        g: f(false, Opcode.Binary, 'xy'),
        h: f(true, Opcode.Continuation, 'z'),
        i: f(true, Opcode.Text, ''),
      });
      expectSubscriptions(source.subscriptions).toBe('^ 29ms !');
    });
  });

  it('sends strings as binary with { binary: true } and leaves short messages whole', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a|', { a: 'hi' });
      expectObservable(source.pipe(fragment({ size: 8, binary: true }))).toBe('-b|', { b: f(true, Opcode.Binary, 'hi') });
    });
  });

  it('stops at once when unsubscribed, and passes errors through', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a---b|', { a: 'ab', b: 'cd' });
      expectObservable(source.pipe(fragment(1)), '^--!').toBe('-(xy)', {
        x: f(false, Opcode.Text, 'a'),
        y: f(true, Opcode.Continuation, 'b'),
      });
      expectSubscriptions(source.subscriptions).toBe('^--!');
      const failing = cold('-#', undefined, new Error('boom'));
      expectObservable(failing.pipe(fragment(1))).toBe('-#', undefined, new Error('boom'));
      expectSubscriptions(failing.subscriptions).toBe('^!');
    });
  });

  it('refuses a size below 1', () => {
    expect(() => fragment(0)).to.throw(RangeError);
    expect(() => fragment(1.5)).to.throw(RangeError);
  });

  it('round-trips with assembleMessages at every size, multi-byte UTF-8 split across frames', async () => {
    const messages = ['héllo wörld ✓ 🎉', Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), '', 'a'];
    for (let size = 1; size <= 20; size++) {
      const out = await lastValueFrom(from(messages).pipe(fragment(size), assembleMessages(), toArray()));
      expect(out, `size ${size}`).to.deep.equal(messages);
    }
  });

  it('frames sent with sendFrame arrive as one message through the real core', async () => {
    const { client, server } = createPair();
    const got = lastValueFrom(server.messages$.pipe(toArray()));
    from(['fragmented ✓ message', Buffer.alloc(1000, 7)])
      .pipe(fragment(7))
      .subscribe({ next: (frame) => client.sendFrame(frame), complete: () => client.complete() });
    expect(await got).to.deep.equal(['fragmented ✓ message', Buffer.alloc(1000, 7)]);
  });
});
