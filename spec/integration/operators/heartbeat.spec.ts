import { expect } from 'chai';
import { firstValueFrom, Subject, take, tap, toArray } from 'rxjs';
import { connect, HeartbeatConnection, heartbeat, HeartbeatTimeoutError } from '../../../lib';
import { ending, serve, silentPeer, within } from './util';

describe('integration: heartbeat', () => {
  const interval = 150;
  const timeout = 100;

  it('drops a silent raw TCP peer that completed the handshake within interval + timeout, with 1011', async () => {
    const accepted = new Subject<{ conn: HeartbeatConnection; at: number }>();
    const server = await serve((server$) =>
      server$.pipe(
        heartbeat({ interval, timeout }),
        tap((conn) => accepted.next({ conn, at: performance.now() })),
      ),
    );
    try {
      const first = firstValueFrom(accepted);
      const peer = await silentPeer(server.port);
      const { conn, at } = await within(first, 5000, 'the connection');
      const error = await within(ending(conn.messages$), 5000, 'the heartbeat failure');
      const elapsed = performance.now() - at;
      expect(error).to.be.instanceOf(HeartbeatTimeoutError);
      expect((error as HeartbeatTimeoutError).closeCode).to.equal(1011);
      // Functional bound from the issue: dropped within interval + timeout (plus event-loop slack).
      expect(elapsed).to.be.at.least(interval + timeout - 5);
      expect(elapsed).to.be.below(interval + timeout + 150);
      // The peer saw a ping (0x89), then a close frame (0x88) with 1011, then the end of the TCP stream.
      await within(peer.ended, 5000, 'the peer socket to close');
      const bytes = Buffer.concat(peer.received);
      expect(bytes[0]).to.equal(0x89);
      const close = bytes.indexOf(0x88);
      expect(close).to.be.greaterThan(0);
      expect(bytes.readUInt16BE(close + 2)).to.equal(1011);
      expect((await conn.closed).error).to.be.instanceOf(HeartbeatTimeoutError);
    } finally {
      server.sub.unsubscribe();
    }
  });

  it('keeps a live peer and reports its round-trip times, on the client side too', async () => {
    const server = await serve((server$) =>
      server$.pipe(
        heartbeat({ interval: 50, timeout: 200 }),
        tap((conn) => conn.messages$.subscribe(conn)),
      ),
    );
    try {
      // Keep the subscription: unsubscribing connect() would close the connection.
      const opened = new Subject<HeartbeatConnection>();
      const sub = connect(server.url)
        .pipe(heartbeat({ interval: 50 }))
        .subscribe({ next: (c) => opened.next(c), error: () => {} });
      const first = firstValueFrom(opened);
      const client = await within(first, 5000, 'connect');
      const rtts = await within(firstValueFrom(client.rtt$.pipe(take(3), toArray())), 5000, 'three round trips');
      expect(rtts).to.have.length(3);
      for (const ms of rtts) expect(ms).to.be.a('number').and.at.least(0);
      expect(client.isOpen).to.equal(true);
      client.complete();
      expect((await within(client.closed, 5000, 'close')).wasClean).to.equal(true);
      sub.unsubscribe();
    } finally {
      server.sub.unsubscribe();
    }
  });
});
