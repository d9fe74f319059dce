import { expect } from 'chai';
import { map } from 'rxjs';
import {
  backoffDelay,
  Connection,
  ConnectionClosedError,
  HandshakeError,
  reconnect,
  ReconnectExhaustedError,
  RetryInfo,
} from '../../lib';
import { testScheduler } from './marbles';

/** Connections are opaque to reconnect, except how the last one closed. */
const conn = (code: number | null): Connection =>
  ({ closeInfo: code === null ? null : { code, reason: '', wasClean: true } }) as unknown as Connection;

const refused = new HandshakeError('connection failed: ECONNREFUSED', 0, 'WS_ERR_CONNECT');

describe('reconnect', () => {
  it('retries failed attempts on an exponential schedule, then gives up after maxRetries', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Connection>('-#', undefined, refused);
      const result = source.pipe(reconnect({ initialDelay: 10, factor: 2, maxRetries: 3, jitter: 0, scheduler }));
      // Fails at 1; retries 10, 20 and 40 ms after each failure.
      expectObservable(result).toBe('74ms #', undefined, new ReconnectExhaustedError(3, refused));
      expectSubscriptions(source.subscriptions).toBe(['^!', '11ms ^!', '32ms ^!', '73ms ^!']);
    });
  });

  it('caps the delay at maxDelay and applies jitter from the random source', () => {
    const infos: RetryInfo[] = [];
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectSubscriptions }) => {
      const source = cold<Connection>('#', undefined, refused);
      source
        .pipe(
          reconnect({
            initialDelay: 10,
            maxDelay: 30,
            maxRetries: 4,
            jitter: 0.5,
            random: () => 0.5,
            onRetry: (info) => infos.push(info),
            scheduler,
          }),
        )
        .subscribe({ error: () => {} });
      // Delays 10, 20, 30, 30 before jitter; times (1 - 0.5 * 0.5) after: 8, 15, 23, 23.
      expectSubscriptions(source.subscriptions).toBe(['(^!)', '8ms (^!)', '23ms (^!)', '46ms (^!)', '69ms (^!)']);
    });
    expect(infos.map((i) => [i.attempt, i.delay])).to.deep.equal([
      [1, 8],
      [2, 15],
      [3, 23],
      [4, 23],
    ]);
    expect(backoffDelay(5, { initialDelay: 100, factor: 2, maxDelay: 1000 })).to.equal(1000);
  });

  it('emits each new connection, retries after a going-away close, and completes on a normal close', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = conn(1001);
      const b = conn(1000);
      let n = 0;
      const raw = cold('-a--|');
      const source = raw.pipe(map(() => (n++ === 0 ? a : b)));
      const result = source.pipe(reconnect({ initialDelay: 5, jitter: 0, scheduler }));
      expectObservable(result).toBe('-a--------b--|', { a, b });
      expectSubscriptions(raw.subscriptions).toBe(['^---!', '9ms ^---!']);
    });
  });

  it('resets the backoff after a connection stayed up for resetAfter', () => {
    const lost = new ConnectionClosedError(1006, '', false);
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      // Up 20 ms, then lost. resetAfter 10: every retry waits initialDelay (5 ms) again.
      const source = cold<Connection>('a 19ms #', { a: conn(null) }, lost);
      const result = source.pipe(reconnect({ initialDelay: 5, resetAfter: 10, maxRetries: 2, jitter: 0, scheduler }));
      expectObservable(result.pipe(map(() => 'c')), '^ 79ms !').toBe('c 24ms c 24ms c 24ms c');
      expectSubscriptions(source.subscriptions).toBe(['^ 19ms !', '25ms ^ 19ms !', '50ms ^ 19ms !', '75ms ^ 4ms !']);
    });
    const scheduler2 = testScheduler();
    scheduler2.run(({ cold, expectObservable, expectSubscriptions }) => {
      // resetAfter 30: the backoff grows (5, then 10 ms) and two retries exhaust it.
      const source = cold<Connection>('a 19ms #', { a: conn(null) }, lost);
      const result = source.pipe(reconnect({ initialDelay: 5, resetAfter: 30, maxRetries: 2, jitter: 0, scheduler: scheduler2 }));
      expectObservable(result.pipe(map(() => 'c'))).toBe('c 24ms c 29ms c 19ms #', undefined, new ReconnectExhaustedError(2, lost));
      expectSubscriptions(source.subscriptions).toBe(['^ 19ms !', '25ms ^ 19ms !', '55ms ^ 19ms !']);
    });
  });

  it('stops at once when shouldRetry refuses, and by default for a 4xx handshake', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const forbidden = new HandshakeError('server refused the upgrade: 403 Forbidden', 403);
      const source = cold<Connection>('--#', undefined, forbidden);
      expectObservable(source.pipe(reconnect({ initialDelay: 1 }))).toBe('--#', undefined, forbidden);
      expectSubscriptions(source.subscriptions).toBe('^-!');
      const other = cold<Connection>('-#', undefined, refused);
      expectObservable(other.pipe(reconnect({ shouldRetry: () => false }))).toBe('-#', undefined, refused);
    });
  });

  it('unsubscribing during a backoff cancels the next attempt', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Connection>('-#', undefined, refused);
      expectObservable(source.pipe(reconnect({ initialDelay: 10, jitter: 0, scheduler })), '^ 5ms !').toBe('');
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });
});
