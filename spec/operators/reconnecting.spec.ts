import { expect } from 'chai';
import { map, switchMap, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Connection, HandshakeError, OutboxOverflowError, reconnecting } from '../../lib';
import { createPair } from '../../lib/testing';
import { connectLike, testScheduler } from './marbles';

/** An in-memory server that can be down; a connection takes 1 ms to open. */
function memoryServer(scheduler: TestScheduler) {
  const state = { up: true, servers: [] as Connection[], received: [] as string[][] };
  const connect = () =>
    timer(1, scheduler).pipe(
      switchMap(() =>
        connectLike(() => {
          if (!state.up) return new HandshakeError('connection failed: ECONNREFUSED', 0, 'WS_ERR_CONNECT');
          const pair = createPair({ scheduler });
          const log: string[] = [];
          state.servers.push(pair.server);
          state.received.push(log);
          pair.server.messages$.subscribe({ next: (m) => log.push(String(m)), error: () => {} });
          return pair.client;
        }),
      ),
    );
  return { state, connect };
}

describe('reconnecting', () => {
  it('reports each state, re-sends onOpen first, and delivers the outbox once and in order after a restart', () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const { state, connect } = memoryServer(scheduler);
      const ws = reconnecting('ws://memory', {
        connect,
        scheduler,
        initialDelay: 10,
        jitter: 0,
        onOpen: (conn) => conn.send('hello'),
      });
      ws.next('a'); // queued: not open yet
      scheduler.schedule(() => {
        state.up = false;
        state.servers[0].terminate();
      }, 5);
      scheduler.schedule(() => ['b', 'c'].forEach((m) => ws.next(m)), 6);
      scheduler.schedule(() => (state.up = true), 50);
      scheduler.schedule(() => ws.close(), 90);
      // Lost at 5; retries at 15 (refused at 16), 36 (refused at 37), then 77: open at 78.
      expectObservable(ws.state$).toBe('co---r 72ms o 11ms (x|)', { c: 'connecting', o: 'open', r: 'reconnecting', x: 'closed' });
    });
  });

  it('the outbox arrives once and in order, after what onOpen re-sent', () => {
    const scheduler = testScheduler();
    let received: string[][] = [];
    scheduler.run(() => {
      const { state, connect } = memoryServer(scheduler);
      received = state.received;
      const ws = reconnecting('ws://memory', { connect, scheduler, initialDelay: 10, jitter: 0, onOpen: (c) => c.send('hello') });
      ws.next('a');
      scheduler.schedule(() => {
        state.up = false;
        state.servers[0].terminate();
      }, 5);
      scheduler.schedule(() => ['b', 'c', 'd'].forEach((m) => ws.next(m)), 6);
      scheduler.schedule(() => (state.up = true), 50);
      scheduler.schedule(() => ws.next('e'), 85);
      scheduler.schedule(() => ws.close(), 90);
    });
    expect(received).to.deep.equal([
      ['hello', 'a'],
      ['hello', 'b', 'c', 'd', 'e'],
    ]);
  });

  it('messages$ goes on across connections and completes on close()', () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const { state, connect } = memoryServer(scheduler);
      const ws = reconnecting('ws://memory', { connect, scheduler, initialDelay: 3, jitter: 0 });
      scheduler.schedule(() => state.servers[0].send('one'), 2);
      scheduler.schedule(() => state.servers[0].terminate(), 3);
      // Retry at 6, open at 7.
      scheduler.schedule(() => state.servers[1].send('two'), 8);
      scheduler.schedule(() => ws.close(), 10);
      expectObservable(ws.messages$).toBe('--a 5ms b-|', { a: 'one', b: 'two' });
      expectObservable(ws.state$.pipe(map((s) => s[0]))).toBe('co-r---o--(c|)');
    });
  });

  it('drops the oldest, the newest, or fails, when the outbox is full; every drop is visible', () => {
    for (const [policy, dropped, error] of [
      ['drop-oldest', ['a'], false],
      ['drop-newest', ['c'], false],
      ['error', ['c'], true],
    ] as const) {
      const scheduler = testScheduler();
      const drops: string[] = [];
      let outcome = '';
      scheduler.run(() => {
        const { state, connect } = memoryServer(scheduler);
        state.up = false;
        const ws = reconnecting('ws://memory', { connect, scheduler, outboxLimit: 2, overflow: policy, initialDelay: 100, jitter: 0 });
        ws.dropped$.subscribe((d) => d.reason === 'overflow' && drops.push(String(d.data)));
        ws.messages$.subscribe({ error: (e) => (outcome = e instanceof OutboxOverflowError ? 'overflow' : String(e)) });
        ['a', 'b', 'c'].forEach((m) => ws.next(m));
        expect(ws.outboxSize, policy).to.equal(error ? 0 : 2);
        expect(ws.state, policy).to.equal(error ? 'closed' : 'connecting');
        ws.close();
      });
      expect(drops, policy).to.deep.equal(dropped);
      expect(outcome, policy).to.equal(error ? 'overflow' : '');
    }
  });

  it('gives up with the error when shouldRetry refuses, and close() while reconnecting ends at once', () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const { state, connect } = memoryServer(scheduler);
      state.up = false;
      const ws = reconnecting('ws://memory', { connect, scheduler, shouldRetry: () => false });
      expectObservable(ws.messages$).toBe('-#', undefined, new HandshakeError('connection failed: ECONNREFUSED', 0, 'WS_ERR_CONNECT'));
      const ws2 = reconnecting('ws://memory', { connect, scheduler, initialDelay: 10, jitter: 0 });
      scheduler.schedule(() => ws2.close(), 5);
      expectObservable(ws2.state$.pipe(map((s) => s[0]))).toBe('cr---(c|)');
    });
  });
});
