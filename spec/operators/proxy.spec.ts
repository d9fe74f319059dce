import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Connection, ConnectionClosedError, HandshakeError, proxy } from '../../lib';
import { createPair } from '../../lib/testing';
import { closeInfo$, connectLike, testScheduler } from './marbles';

/** A proxy in virtual time: client <-> (downstream | proxy | upstream) <-> target. */
function setup(scheduler: TestScheduler, target: (server: Connection) => void = (s) => void s.messages$.subscribe(s)) {
  const down = createPair({ scheduler });
  const upstreams: Connection[] = [];
  const open = connectLike(() => {
    const up = createPair({ scheduler });
    upstreams.push(up.server);
    target(up.server);
    return up.client;
  });
  return { client: down.client, downstream: down.server, upstreams, connect: () => open };
}

describe('proxy', () => {
  it('carries messages both ways unchanged: text stays text, binary stays binary', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, downstream, connect } = setup(scheduler);
      const source = cold('a', { a: downstream });
      const sessions = source.pipe(proxy('ws://upstream', { connect }));
      expectObservable(sessions.pipe(map(() => 's')), '^ 9ms !').toBe('s');
      cold('-a-b', { a: 'text ✓', b: Buffer.from([0xff, 0, 1]) }).subscribe(client);
      expectObservable(client.messages$, '^ 9ms !').toBe('-a-b', { a: 'text ✓', b: Buffer.from([0xff, 0, 1]) });
      expectSubscriptions(source.subscriptions).toBe('^ 9ms !');
    });
  });

  it('passes a close code and reason from the upstream to the client (4001)', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, downstream, connect } = setup(scheduler, (s) => void scheduler.schedule(() => s.close(4001, 'upstream says bye'), 3));
      cold('a', { a: downstream }).pipe(proxy('ws://upstream', { connect })).subscribe();
      expectObservable(client.messages$).toBe('3ms #', undefined, new ConnectionClosedError(4001, 'upstream says bye', true));
    });
  });

  it('passes a close code and reason from the client to the upstream (4002)', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, downstream, upstreams, connect } = setup(scheduler);
      cold('a', { a: downstream }).pipe(proxy('ws://upstream', { connect })).subscribe();
      scheduler.schedule(() => client.close(4002, 'client says bye'), 2);
      scheduler.schedule(() => {
        expectObservable(closeInfo$(upstreams[0]).pipe(map((i) => `${i.code}:${i.reason}:${i.wasClean}`))).toBe('5ms (c|)', {
          c: '4002:client says bye:true',
        });
      }, 5);
    });
  });

  it('closes the client with 1014 when the upstream handshake fails, 1011 when the upstream is lost', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const down = createPair({ scheduler });
      const refused = connectLike(() => new HandshakeError('server refused the upgrade: 502', 502));
      cold('-a', { a: down.server }).pipe(proxy('ws://upstream', { connect: () => refused })).subscribe();
      expectObservable(closeInfo$(down.client).pipe(map((i) => i.code))).toBe('-(c|)', { c: 1014 });

      const { client, downstream, connect } = setup(scheduler, (s) => void scheduler.schedule(() => s.terminate(), 4));
      cold('a', { a: downstream }).pipe(proxy('ws://upstream', { connect })).subscribe();
      expectObservable(closeInfo$(client).pipe(map((i) => `${i.code}:${i.reason}`))).toBe('4ms (c|)', {
        c: '1011:upstream connection lost',
      });
    });
  });

  it('unsubscribing closes both ends: the upstream with 1000, the client with 1001', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { client, downstream, upstreams, connect } = setup(scheduler);
      const source = cold('a', { a: downstream });
      const sub = source.pipe(proxy('ws://upstream', { connect })).subscribe();
      scheduler.schedule(() => sub.unsubscribe(), 3);
      expectSubscriptions(source.subscriptions).toBe('^--!');
      expectObservable(client.messages$).toBe('3ms |');
      scheduler.schedule(() => expectObservable(closeInfo$(upstreams[0]).pipe(map((i) => i.code))).toBe('4ms (c|)', { c: 1000 }), 4);
    });
  });
});
