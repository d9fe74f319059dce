import { expect } from 'chai';
import { filter, firstValueFrom, Subject, Subscription, take, tap, timer, toArray } from 'rxjs';
import { CloseInfo, connect, Connection, ConnectionClosedError, proxy, ProxySession } from '../../../lib';
import { ending, serve, within } from './util';

const MiB = 1024 * 1024;

describe('integration: proxy', () => {
  let upstream: Awaited<ReturnType<typeof serve>>;
  let front: Awaited<ReturnType<typeof serve>>;
  const upstreamClosed = new Subject<CloseInfo>();
  const sessions = new Subject<ProxySession>();
  /** What the upstream does with each connection; set per test (default: echo). */
  let behave: (conn: Connection) => void;
  let subs = new Subscription();

  beforeEach(async () => {
    subs = new Subscription();
    behave = (conn) => conn.messages$.subscribe({ next: (m) => conn.send(m), error: () => {} });
    upstream = await serve((server$) =>
      server$.pipe(
        tap((conn) => {
          conn.closed.then((info) => upstreamClosed.next(info));
          behave(conn);
        }),
      ),
    );
    front = await serve((server$) => server$.pipe(proxy(upstream.url), tap((s) => sessions.next(s))));
  });

  afterEach(() => {
    front.sub.unsubscribe();
    upstream.sub.unsubscribe();
    subs.unsubscribe();
  });

  /** Connects a client to the proxy and keeps the subscription for the test. */
  function client(): Promise<Connection> {
    const opened = new Subject<Connection>();
    const first = firstValueFrom(opened);
    subs.add(connect(front.url).subscribe({ next: (c) => opened.next(c), error: () => {} }));
    return within(first, 5000, 'a client connection through the proxy');
  }

  it('carries text as text and binary as binary, both ways', async () => {
    const c = await client();
    const echoed = firstValueFrom(c.messages$.pipe(take(2), toArray()));
    c.send('text ✓');
    c.send(Buffer.from([0, 0xff, 7]));
    expect(await within(echoed, 5000, 'echoes')).to.deep.equal(['text ✓', Buffer.from([0, 0xff, 7])]);
  });

  it('carries close code 4001 and its reason from the upstream to the client', async () => {
    behave = (conn) => conn.messages$.subscribe({ next: () => conn.close(4001, 'from upstream'), error: () => {} });
    const c = await client();
    const ended = ending(c.messages$);
    c.send('close please');
    const error = await within(ended, 5000, 'the client to be closed');
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect((error as ConnectionClosedError).closeCode).to.equal(4001);
    expect((error as ConnectionClosedError).reason).to.equal('from upstream');
  });

  it('carries close code 4002 and its reason from the client to the upstream', async () => {
    const c = await client();
    const closed = firstValueFrom(upstreamClosed);
    c.close(4002, 'from client');
    const info = await within(closed, 5000, 'the upstream connection to close');
    expect(info.code).to.equal(4002);
    expect(info.reason).to.equal('from client');
    expect(info.wasClean).to.equal(true);
  });

  it('closes the client with 1011 when the upstream connection is lost', async () => {
    behave = (conn) => conn.messages$.subscribe({ next: () => conn.terminate(), error: () => {} });
    const c = await client();
    c.send('drop it');
    const info = await within(c.closed, 5000, 'the client to be closed');
    expect(info.code).to.equal(1011);
  });

  it('closes the client with 1014 when the upstream handshake fails', async () => {
    // A port that was just free: nothing listens there.
    const gone = await serve((server$) => server$);
    gone.sub.unsubscribe();
    const bad = await serve((server$) => server$.pipe(proxy(`ws://127.0.0.1:${gone.port}`)));
    try {
      const opened = new Subject<Connection>();
      const first = firstValueFrom(opened);
      subs.add(connect(bad.url).subscribe({ next: (c) => opened.next(c), error: () => {} }));
      const c = await within(first, 5000, 'connect');
      const info = await within(c.closed, 5000, 'the client to be closed');
      expect(info.code).to.equal(1014);
    } finally {
      bad.sub.unsubscribe();
    }
  });

  it('moves 16 MiB from a fast upstream through a slow reader with the proxy buffering at most 1 MiB', async function () {
    this.timeout(60_000);
    const size = 64 * 1024;
    const count = (16 * MiB) / size;
    behave = (conn) => {
      // The upstream writes as fast as its own backpressure lets it.
      let sent = 0;
      const pump = (): void => {
        while (sent < count && !conn.congested && conn.isOpen) conn.send(Buffer.alloc(size, sent++ & 0xff));
      };
      conn.drain$.subscribe(pump);
      conn.messages$.subscribe({ next: pump, error: () => {} });
    };
    const session = firstValueFrom(sessions);
    const c = await client();
    const { downstream, upstream: up } = await within(session, 5000, 'the proxy session');
    let maxBuffered = 0;
    let sawCongestion = false;
    const sample = (): void => {
      maxBuffered = Math.max(maxBuffered, downstream.bufferedAmount + up.bufferedAmount);
      sawCongestion ||= downstream.congested;
    };
    subs.add(up.messages$.subscribe({ next: sample, error: () => {} }));
    const memBefore = process.memoryUsage();

    // The slow reader: after each message it stops reading for 2 ms.
    let received = 0;
    let messages = 0;
    let corrupt = 0;
    const done = new Subject<void>();
    subs.add(
      c.messages$.subscribe({
        next: (m) => {
          const b = m as Buffer;
          if (b.length !== size || b[0] !== (messages & 0xff) || b[size - 1] !== (messages & 0xff)) corrupt++;
          received += b.length;
          messages++;
          sample();
          if (messages === count) done.next();
          c.pause();
          subs.add(timer(2).subscribe(() => c.resume()));
        },
        error: () => {},
      }),
    );
    const finished = firstValueFrom(done);
    c.send('go');
    await within(finished, 55_000, '16 MiB through the proxy');
    const memAfter = process.memoryUsage();
    expect(received).to.equal(16 * MiB);
    expect(corrupt).to.equal(0);
    expect(sawCongestion, 'the slow reader made the proxy hold back').to.equal(true);
    // Stated bound: the write buffers the proxy holds for this session stay under 1 MiB
    // (high-water mark 256 KiB + the messages parsed from one read), not 16 MiB.
    expect(maxBuffered).to.be.below(1 * MiB);
    console.log(
      `      proxy: 16 MiB moved, max buffered in the proxy ${(maxBuffered / 1024).toFixed(0)} KiB; ` +
        `process arrayBuffers ${((memAfter.arrayBuffers - memBefore.arrayBuffers) / MiB).toFixed(1)} MiB delta, ` +
        `rss ${((memAfter.rss - memBefore.rss) / MiB).toFixed(1)} MiB delta`,
    );
  });
});
