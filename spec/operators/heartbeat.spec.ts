import { expect } from 'chai';
import { map } from 'rxjs';
import { Connection, heartbeat, HeartbeatTimeoutError } from '../../lib';
import { createPair } from '../../lib/testing';
import { closeInfo$, testScheduler } from './marbles';

describe('heartbeat', () => {
  it('pings every interval and reports each round-trip time in virtual time', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      // 1 ms each way: the pong of a ping sent at 10 arrives at 12.
      const { client, server } = createPair({ scheduler, latency: 1 });
      const source = cold('a', { a: server });
      const sub = source.pipe(heartbeat({ interval: 10, timeout: 5, scheduler })).subscribe((conn) => {
        expectObservable(conn.rtt$, '^ 39ms !').toBe('12ms r 9ms r 9ms r', { r: 2 });
      });
      // keepalive(): the next ping goes `interval - latency` after the pong, so pings stay 10 ms apart.
      expectObservable(client.pings$.pipe(map(() => 'p')), '^ 39ms !').toBe('11ms p 9ms p 9ms p');
      expectObservable(server.messages$, '^ 39ms !').toBe('');
      scheduler.schedule(() => sub.unsubscribe(), 100);
      expectSubscriptions(source.subscriptions).toBe('^ 99ms !');
    });
  });

  it('fails a silent peer with a HeartbeatTimeoutError and 1011 within interval + timeout', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { server, silence } = createPair({ scheduler });
      silence('client');
      cold('a', { a: server }).pipe(heartbeat({ interval: 10, timeout: 5, scheduler })).subscribe();
      // Ping at 10, no pong by 15: failed, with 1011 sent.
      expectObservable(server.messages$).toBe('15ms #', undefined, new HeartbeatTimeoutError(5));
      expectObservable(closeInfo$(server).pipe(map((i) => `${i.sentCode}:${i.wasClean}`))).toBe('15ms (x|)', { x: '1011:false' });
    });
  });

  it('stops pinging when unsubscribed, and completes rtt$ when the connection closes', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = createPair({ scheduler });
      const b = createPair({ scheduler });
      const source = cold('a 4ms b', { a: a.server, b: b.server });
      const result = source.pipe(heartbeat({ interval: 10, scheduler }));
      expectObservable(result.pipe(map((c) => (c === a.server ? 'a' : 'b'))), '^ 24ms !').toBe('a 4ms b');
      expectSubscriptions(source.subscriptions).toBe('^ 24ms !');
      // a: pings at 10 and 20; b: at 15 and (not) 25: the heartbeat is gone by then.
      expectObservable(a.client.pings$.pipe(map(() => 'p'))).toBe('10ms p 9ms p 29ms |');
      expectObservable(b.client.pings$.pipe(map(() => 'p'))).toBe('15ms p 34ms |');
      scheduler.schedule(() => {
        a.client.complete();
        b.client.complete();
      }, 50);
    });
    const scheduler2 = testScheduler();
    scheduler2.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler: scheduler2 });
      cold('a', { a: server })
        .pipe(heartbeat({ interval: 10, scheduler: scheduler2 }))
        .subscribe((conn) => expectObservable(conn.rtt$).toBe('10ms r 9ms r 4ms |', { r: 0 }));
      scheduler2.schedule(() => client.complete(), 25);
    });
  });

  it('passes source errors through and validates its settings', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Connection>('--#', undefined, new Error('listen failed'));
      expectObservable(source.pipe(heartbeat(10))).toBe('--#', undefined, new Error('listen failed'));
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    expect(() => heartbeat({ interval: -1 })).to.throw(RangeError);
    expect(() => heartbeat({ interval: 10, timeout: NaN })).to.throw(RangeError);
  });
});
