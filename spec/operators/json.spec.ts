import { expect } from 'chai';
import { map } from 'rxjs';
import { DecodeError, json } from '../../lib';
import { createPair } from '../../lib/testing';
import { closeInfo$, testScheduler } from './marbles';

type Msg = { type: 'chat'; text: string };
const isMsg = (v: unknown): v is Msg =>
  typeof v === 'object' && v !== null && (v as Msg).type === 'chat' && typeof (v as Msg).text === 'string';

describe('json', () => {
  it('parses typed messages in and stringifies them out', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, server } = createPair({ scheduler });
      const source = cold('a', { a: server });
      source.pipe(json<Msg, Msg>({ validate: isMsg })).subscribe((c) =>
        c.messages$.pipe(map((m) => ({ type: 'chat' as const, text: m.text.toUpperCase() }))).subscribe(c),
      );
      cold('-a-b', { a: '{"type":"chat","text":"hi"}', b: Buffer.from('{"type":"chat","text":"yo"}') }).subscribe(client);
      expectObservable(client.messages$, '^ 5ms !').toBe('-a-b', {
        a: '{"type":"chat","text":"HI"}',
        b: '{"type":"chat","text":"YO"}',
      });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('closes with 1007 on a message that is not JSON or fails validation', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler });
      cold('a', { a: server })
        .pipe(json<Msg>({ validate: isMsg }))
        .subscribe((c) =>
          expectObservable(c.messages$).toBe(
            '--#',
            undefined,
            new DecodeError('message could not be decoded: message failed validation', '{"type":"other"}'),
          ),
        );
      cold('--a', { a: '{"type":"other"}' }).subscribe(client);
      expectObservable(closeInfo$(client).pipe(map((i) => i.code))).toBe('--(c|)', { c: 1007 });
    });
  });

  it('skips and reports with onDecodeError: skip, and reports a value with no JSON form', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler });
      cold('a', { a: server })
        .pipe(json<number, unknown>({ onDecodeError: 'skip' }))
        .subscribe((c) => {
          expectObservable(c.messages$, '^ 9ms !').toBe('-a---b', { a: 1, b: 2 });
          expectObservable(c.errors$.pipe(map((e) => e.code)), '^ 9ms !').toBe('---d-e', {
            d: 'WS_ERR_DECODE',
            e: 'WS_ERR_ENCODE',
          });
          scheduler.schedule(() => expect(c.send(undefined)).to.equal(false), 5);
        });
      cold('-a-b-c', { a: '1', b: '{oops', c: '2' }).subscribe(client);
    });
  });
});
