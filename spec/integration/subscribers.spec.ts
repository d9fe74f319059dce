/**
 * Subscriber lists and output batching of many connections: the lean
 * per-connection layout (copy-on-write subscriber arrays, one flush queue for
 * all transports) must keep the behaviour users rely on.
 */
import { expect } from 'chai';
import { firstValueFrom, lastValueFrom, Subscription, take, toArray } from 'rxjs';
import type { Connection } from '../../lib';
import { createPair } from '../../lib/testing';
import { within } from './util';

/** The stream under a connection's transport (test access to internals). */
function streamOf(conn: Connection): { write: (...args: unknown[]) => boolean } {
  return (conn as unknown as { transport: { stream: { write: (...args: unknown[]) => boolean } } }).transport.stream;
}

describe('integration/subscribers and flushing', () => {
  it('a subscriber added during an emission gets the next message; one removed during it gets nothing more', async () => {
    const { client, server } = createPair();
    const log: string[] = [];
    let b: Subscription | null = null;
    const a = server.messages$.subscribe((m) => {
      log.push(`a:${m}`);
      if (m === '1') {
        b!.unsubscribe();
        server.messages$.subscribe((x) => log.push(`c:${x}`));
      }
    });
    b = server.messages$.subscribe((m) => log.push(`b:${m}`));
    const done = lastValueFrom(server.messages$.pipe(take(2), toArray()));
    client.next('1');
    client.next('2');
    await within(done);
    expect(log).to.deep.equal(['a:1', 'a:2', 'c:2']);
    a.unsubscribe();
    client.complete();
    await within(server.closed);
  });

  it('unsubscribing the only subscriber, then subscribing again, keeps delivering in order', async () => {
    const { client, server } = createPair();
    const first = await within(
      new Promise<string>((resolve) => {
        const s = server.messages$.subscribe((m) => {
          s.unsubscribe();
          resolve(m as string);
        });
        client.next('one');
      }),
    );
    const next = firstValueFrom(server.messages$);
    client.next('two');
    expect([first, await within(next)]).to.deep.equal(['one', 'two']);
    client.complete();
  });

  it('frames sent outside input handling reach every peer even if one stream write throws', async () => {
    const pairs = [createPair(), createPair(), createPair()];
    const received = pairs.map((p) => firstValueFrom(p.client.messages$));
    const broken = streamOf(pairs[0].server);
    const realWrite = broken.write;
    const boom = new Error('write failed');
    broken.write = () => {
      broken.write = realWrite;
      throw boom;
    };
    // The failure must not be swallowed: it is rethrown (as an uncaught
    // exception) after the other transports have flushed.
    const mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const rethrown = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    try {
      // From a timer: not inside any transport's input handling, so all three
      // sends are queued for one flush microtask.
      await new Promise((r) => setTimeout(r, 1));
      pairs.forEach((p, i) => p.server.next(`to ${i}`));
      expect(await within(rethrown)).to.equal(boom);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const h of mochaHandlers) process.on('uncaughtException', h);
    }
    expect(await within(Promise.all(received.slice(1)))).to.deep.equal(['to 1', 'to 2']);
    for (const p of pairs.slice(1)) p.client.complete();
    pairs[0].server.terminate();
  });
});
