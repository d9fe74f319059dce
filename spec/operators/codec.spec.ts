import { expect } from 'chai';
import { map } from 'rxjs';
import { codec, ConnectionClosedError, DecodeError, EncodeError } from '../../lib';
import { createPair } from '../../lib/testing';
import { closeInfo$, testScheduler } from './marbles';

/** A codec of integers: decimal text in, hex text out. */
const ints = codec<number, number>({
  decode: (data) => {
    const n = Number(String(data));
    if (!Number.isInteger(n)) throw new TypeError(`not an integer: ${String(data)}`);
    return n;
  },
  encode: (n) => {
    if (n < 0) throw new RangeError('negative');
    return n.toString(16);
  },
});

describe('codec', () => {
  it('decodes what arrives and encodes what is sent, closing with 1007 on a bad message', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, server } = createPair({ scheduler });
      const source = cold('a', { a: server });
      source.pipe(ints).subscribe((typed) => {
        expectObservable(typed.messages$).toBe(
          '-a-b-#',
          { a: 1, b: 2 },
          new DecodeError('message could not be decoded: not an integer: x', 'x'),
        );
        // The answer goes out encoded.
        typed.messages$.subscribe({ next: (n) => typed.next(n * 100), error: () => {} });
      });
      cold('-a-b-c', { a: '1', b: '2', c: 'x' }).subscribe(client);
      expectObservable(client.messages$).toBe(
        '-a-b-#',
        { a: '64', b: 'c8' },
        new ConnectionClosedError(1007, 'message could not be decoded', true),
      );
      expectObservable(closeInfo$(client).pipe(map((i) => i.code))).toBe('5ms (c|)', { c: 1007 });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });
});

describe('codec: skip policy and encode errors', () => {
  it('skips a bad message, reports it on errors$, and refuses to send what does not encode', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler });
      const skipping = codec<number, number>(
        {
          decode: (d) => {
            const n = Number(String(d));
            if (Number.isNaN(n)) throw new TypeError('NaN');
            return n;
          },
          encode: (n) => {
            if (n < 0) throw new RangeError('negative');
            return String(n);
          },
        },
        { onDecodeError: 'skip' },
      );
      cold('a', { a: server })
        .pipe(skipping)
        .subscribe((typed) => {
          expectObservable(typed.messages$, '^ 9ms !').toBe('-a-----b', { a: 1, b: 3 });
          expectObservable(typed.errors$.pipe(map((e) => e.constructor.name)), '^ 9ms !').toBe('---d-e', {
            d: 'DecodeError',
            e: 'EncodeError',
          });
          scheduler.schedule(() => expect(typed.send(-1)).to.equal(false), 5);
        });
      cold('-a-b---c', { a: '1', b: 'x', c: '3' }).subscribe(client);
    });
    expect(new DecodeError('m', 'x')).to.be.instanceOf(Error);
    expect(new EncodeError('m', 1).closeCode).to.equal(1011);
  });
});
