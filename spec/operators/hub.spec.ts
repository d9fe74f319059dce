import { expect } from 'chai';
import { map } from 'rxjs';
import { createHub, HubDrop } from '../../lib';
import { createPair } from '../../lib/testing';
import { testScheduler } from './marbles';

describe('createHub', () => {
  it('publish reaches every member of a topic, except the one asked to skip', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const hub = createHub();
      const pairs = [0, 1, 2].map(() => createPair({ scheduler, latency: 1 }));
      const source = cold('(abc)', { a: pairs[0].server, b: pairs[1].server, c: pairs[2].server });
      source.pipe(hub.joinAll('news')).subscribe();
      scheduler.schedule(() => expect(hub.publish('news', 'hello')).to.deep.equal({ delivered: 3, dropped: 0 }), 2);
      scheduler.schedule(() => hub.publish('news', Buffer.from([1, 2]), { except: pairs[1].server }), 4);
      scheduler.schedule(() => hub.publish('other', 'nobody'), 4);
      expectObservable(pairs[0].client.messages$, '^ 9ms !').toBe('---a-b', { a: 'hello', b: Buffer.from([1, 2]) });
      expectObservable(pairs[1].client.messages$, '^ 9ms !').toBe('---a', { a: 'hello' });
      expectObservable(pairs[2].client.messages$, '^ 9ms !').toBe('---a-b', { a: 'hello', b: Buffer.from([1, 2]) });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('members leave when they close and when the joinAll subscription ends', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const hub = createHub();
      const a = createPair({ scheduler });
      const b = createPair({ scheduler });
      const source = cold('ab', { a: a.server, b: b.server });
      const sub = source.pipe(hub.joinAll('t')).subscribe();
      const count = (): string => String(hub.members('t').length);
      const counts: string[] = [];
      for (const t of [2, 4, 6]) scheduler.schedule(() => counts.push(count()), t);
      scheduler.schedule(() => a.client.complete(), 3);
      scheduler.schedule(() => sub.unsubscribe(), 5);
      expectSubscriptions(source.subscriptions).toBe('^----!');
      expectObservable(b.client.messages$, '^ 9ms !').toBe('');
      scheduler.schedule(() => {
        expect(counts).to.deep.equal(['2', '1', '0']);
        expect(hub.topics()).to.deep.equal([]);
        expect(hub.publish('t', 'x')).to.deep.equal({ delivered: 0, dropped: 0 });
      }, 7);
    });
  });

  it('skips a slow member and reports the drop; the others get every message', () => {
    const scheduler = testScheduler();
    const drops: HubDrop[] = [];
    scheduler.run(({ expectObservable }) => {
      const hub = createHub({ maxBufferedAmount: 1000 });
      hub.dropped$.subscribe((d) => drops.push(d));
      const fast = createPair({ scheduler, latency: 1 });
      const slow = createPair({ scheduler, latency: 1 });
      hub.join(fast.server, 't');
      hub.join(slow.server, 't');
      slow.client.pause(); // reads nothing: its server side's write buffer fills
      const big = 'x'.repeat(600);
      for (let i = 0; i < 4; i++) scheduler.schedule(() => hub.publish('t', `${i}${big}`), i);
      expectObservable(fast.client.messages$.pipe(map((m) => String(m)[0])), '^ 9ms !').toBe('-abcd', {
        a: '0',
        b: '1',
        c: '2',
        d: '3',
      });
    });
    // 601 bytes (+ header) per message: the third and fourth find over 1000 bytes queued.
    expect(drops.map((d) => [d.reason, String(d.data)[0], d.connection !== null])).to.deep.equal([
      ['slow', '2', true],
      ['slow', '3', true],
    ]);
  });

  it("closes a slow member with 1008 under the 'close' policy", () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const hub = createHub({ maxBufferedAmount: 100, slowMember: 'close' });
      const slow = createPair({ scheduler });
      const ok = createPair({ scheduler });
      hub.join(slow.server, 't');
      hub.join(ok.server, 't');
      slow.client.pause();
      scheduler.schedule(() => expect(hub.publish('t', 'y'.repeat(200))).to.deep.equal({ delivered: 2, dropped: 0 }), 1);
      scheduler.schedule(() => expect(hub.publish('t', 'z')).to.deep.equal({ delivered: 1, dropped: 1 }), 2);
      scheduler.schedule(() => {
        // Closing (its close frame waits behind the unread data); later publishes skip it.
        expect(slow.server.isOpen).to.equal(false);
        expect(hub.publish('t', 'w')).to.deep.equal({ delivered: 1, dropped: 1 });
      }, 3);
      expectObservable(ok.client.messages$.pipe(map((m) => String(m)[0])), '^ 5ms !').toBe('-yzw');
    });
  });
});
