/** The marble examples of the README (Testing kit section), kept honest. */
import { ConnectionClosedError, Connection, HandshakeError, heartbeat, HeartbeatTimeoutError, json, reconnect, ReconnectExhaustedError } from '../../lib';
import { createPair } from '../../lib/testing';
import { testScheduler } from '../operators/marbles';

describe('README marble examples', () => {
  it('a heartbeat failing a silent peer', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { server, silence } = createPair({ scheduler });
      silence('client');
      cold('a', { a: server }).pipe(heartbeat({ interval: 10, timeout: 5, scheduler })).subscribe();
      expectObservable(server.messages$).toBe('15ms #', undefined, new HeartbeatTimeoutError(5));
    });
  });

  it('a reconnect backoff schedule', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const refused = new HandshakeError('connection failed: ECONNREFUSED', 0, 'WS_ERR_CONNECT');
      const attempts = cold<Connection>('-#', undefined, refused);
      const result = attempts.pipe(reconnect({ initialDelay: 10, factor: 2, maxRetries: 3, jitter: 0, scheduler }));
      expectObservable(result).toBe('74ms #', undefined, new ReconnectExhaustedError(3, refused));
      expectSubscriptions(attempts.subscriptions).toBe(['^!', '11ms ^!', '32ms ^!', '73ms ^!']);
    });
  });

  it('a codec', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler });
      cold('a', { a: server })
        .pipe(json<{ n: number }, { n: number }>())
        .subscribe((c) => c.messages$.subscribe({ next: (m) => c.next({ n: m.n * 2 }), error: () => {} }));
      cold('-a-b', { a: '{"n":21}', b: 'not json' }).subscribe(client);
      expectObservable(client.messages$).toBe(
        '-a-#',
        { a: '{"n":42}' },
        new ConnectionClosedError(1007, 'message could not be decoded', true),
      );
    });
  });
});
