import { expect } from 'chai';
import { map } from 'rxjs';
import { closeWith, ConnectionClosedError, UsageError } from '../../lib';
import { createPair } from '../../lib/testing';
import { closeInfo$, testScheduler } from './marbles';

describe('closeWith', () => {
  it('closes with its code and reason when the piped data completes; the close is clean', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, server } = createPair({ scheduler, latency: 1 });
      const source = cold('a', { a: client });
      source.pipe(closeWith(4000, 'bye', { timeout: 10, scheduler })).subscribe((conn) => cold('-x-y|').subscribe(conn));
      // x and y arrive 1 ms after they are sent. The close goes at 4 and arrives at 5; the server answers
      // and sends its FIN (at the client at 6), and closes when the client's FIN is back (7).
      expectObservable(server.messages$).toBe('--x-y--#', undefined, new ConnectionClosedError(4000, 'bye', true));
      expectObservable(closeInfo$(client).pipe(map((i) => `${i.code}:${i.reason}:${i.wasClean}`))).toBe('6ms (c|)', {
        c: '4000::true', // the peer echoes the code (RFC 6455 §5.5.1), not the reason
      });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('drops the transport `timeout` after the close when the peer does not answer', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, silence } = createPair({ scheduler });
      silence('server');
      cold('a', { a: client })
        .pipe(closeWith(4000, 'bye', { timeout: 10, scheduler }))
        .subscribe((conn) => cold('--|').subscribe(conn));
      expectObservable(closeInfo$(client).pipe(map((i) => `${i.sentCode}:${i.wasClean}`))).toBe('12ms (c|)', {
        c: '4000:false',
      });
    });
  });

  it('restores complete() and cancels its timers when unsubscribed', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, server } = createPair({ scheduler });
      const source = cold('a', { a: client });
      const sub = source.pipe(closeWith(4000, 'bye', { timeout: 10, scheduler })).subscribe();
      scheduler.schedule(() => sub.unsubscribe(), 3);
      // complete() after the unsubscribe is the plain 1000 close: the server's messages$ completes.
      scheduler.schedule(() => client.complete(), 5);
      expectObservable(server.messages$).toBe('5ms |');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('refuses codes that may not be sent and long reasons', () => {
    expect(() => closeWith(1005)).to.throw(UsageError);
    expect(() => closeWith(4000, 'x'.repeat(124))).to.throw(UsageError);
  });
});
