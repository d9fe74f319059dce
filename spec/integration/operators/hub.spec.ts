import { expect } from 'chai';
import { filter, firstValueFrom, Subject, Subscription, tap } from 'rxjs';
import { connect, createHub } from '../../../lib';
import { serve, within } from './util';

describe('integration: hub', () => {
  it('one publish reaches 1,000 connections', async function () {
    this.timeout(60_000);
    const N = 1000;
    const hub = createHub();
    const joined = new Subject<number>();
    const server = await serve((server$) => server$.pipe(hub.joinAll('all'), tap(() => joined.next(hub.members('all').length))));
    const allJoined = firstValueFrom(joined.pipe(filter((n) => n === N)));
    const subs = new Subscription();
    const got = new Subject<string>();
    let received = 0;
    const opened = new Subject<void>();
    let open = 0;
    try {
      for (let i = 0; i < N; i++) {
        subs.add(
          connect(server.url).subscribe({
            next: (c) => {
              c.messages$.subscribe({
                next: (m) => {
                  received++;
                  got.next(String(m));
                },
                error: () => {},
              });
              open++;
              opened.next();
            },
            error: () => {},
          }),
        );
      }
      await within(firstValueFrom(opened.pipe(filter(() => open === N))), 30_000, `${N} client connections`);
      await within(allJoined, 10_000, `${N} members`);
      const t0 = performance.now();
      const result = hub.publish('all', 'to everyone ✓');
      const allGot = firstValueFrom(got.pipe(filter(() => received === N)));
      await within(allGot, 30_000, `${N} deliveries`);
      const ms = performance.now() - t0;
      expect(result).to.deep.equal({ delivered: N, dropped: 0 });
      expect(received).to.equal(N);
      console.log(`      hub: one publish reached ${N} connections in ${ms.toFixed(1)} ms`);
    } finally {
      subs.unsubscribe();
      server.sub.unsubscribe();
    }
  });
});
