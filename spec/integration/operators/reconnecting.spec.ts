import { expect } from 'chai';
import { filter, firstValueFrom, Subject, tap } from 'rxjs';
import { Connection, reconnecting, ReconnectingState } from '../../../lib';
import { serve, within } from './util';

describe('integration: reconnecting', () => {
  it('across a real server restart on the same port, delivers every outboxed message once and in order', async () => {
    const received: string[] = [];
    const arrived = new Subject<void>();
    const onConnection = (conn: Connection): void => {
      conn.messages$.subscribe({
        next: (m) => {
          received.push(String(m));
          arrived.next();
        },
        error: () => {},
      });
    };
    let server = await serve((server$) => server$.pipe(tap(onConnection)));
    const port = server.port;
    const states: ReconnectingState[] = [];
    const ws = reconnecting(server.url, {
      initialDelay: 20,
      maxDelay: 200,
      onOpen: (conn) => conn.send('hello'),
    });
    ws.state$.subscribe((s) => states.push(s));
    const reached = (s: ReconnectingState) => within(firstValueFrom(ws.state$.pipe(filter((x) => x === s))), 5000, `state ${s}`);
    const count = (n: number) => within(firstValueFrom(arrived.pipe(filter(() => received.length >= n))), 5000, `${n} messages`);
    try {
      await reached('open');
      ws.next('before');
      await count(2);

      // Stop the server (it closes its connections with 1001, going away).
      server.sub.unsubscribe();
      await reached('reconnecting');
      const outboxed = Array.from({ length: 50 }, (_, i) => `queued ${i}`);
      for (const m of outboxed) ws.next(m);
      expect(ws.outboxSize).to.equal(50);

      // Back on the same port.
      server = await serve((server$) => server$.pipe(tap(onConnection)), port);
      await reached('open');
      await count(2 + 1 + 50);
      expect(received).to.deep.equal(['hello', 'before', 'hello', ...outboxed]);
      expect(ws.outboxSize).to.equal(0);

      ws.close();
      await reached('closed');
      expect(states[0]).to.equal('connecting');
      expect(states.slice(1)).to.deep.equal(['open', 'reconnecting', 'open', 'closed']);
    } finally {
      ws.close();
      server.sub.unsubscribe();
    }
  });
});
