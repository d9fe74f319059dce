import { expect } from 'chai';
import * as net from 'node:net';
import { firstValueFrom, take, toArray } from 'rxjs';
import WebSocket from 'ws';
import { Connection, NotDeliveredError, ProtocolError, UsageError, Undelivered, WebSocketError } from '../../lib';
import { openClient, RAW_UPGRADE, startServer, within, wsOpen } from './util';

function wsNext(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })));
}

function wsClose(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('integration/Connection', () => {
  it('messages$ emits text as string and binary as Buffer, and completes on a normal close', async () => {
    const server = await startServer(() => undefined);
    try {
      const ws = await wsOpen(server.url);
      const conn = server.connections[0];
      const all = firstValueFrom(conn.messages$.pipe(toArray()));
      ws.send('héllo');
      ws.send(Buffer.from([1, 2, 3]));
      ws.send(new Uint8Array([4]), { binary: true });
      ws.close(1000);
      const got = await within(all);
      expect(got[0]).to.equal('héllo');
      expect(Buffer.isBuffer(got[1])).to.equal(true);
      expect(got[1]).to.deep.equal(Buffer.from([1, 2, 3]));
      expect(got[2]).to.deep.equal(Buffer.from([4]));
    } finally {
      server.stop();
    }
  });

  it('messages$ errors with the typed protocol error when the peer breaks the protocol', async () => {
    const server = await startServer(() => undefined);
    try {
      const raw = net.connect(server.port, '127.0.0.1');
      raw.write(
        RAW_UPGRADE + '\r\n',
      );
      const conn = await within(server.nextConnection());
      const ended = firstValueFrom(conn.messages$).catch((e: unknown) => e);
      raw.write(Buffer.from([0x81, 0x01, 0x61])); // unmasked frame from a client
      const error = (await within(ended)) as WebSocketError;
      expect(error).to.be.instanceOf(ProtocolError);
      expect(error.closeCode).to.equal(1002);
      expect(error.code).to.equal('WS_ERR_EXPECTED_MASK');
      const info = await within(conn.closed);
      expect(info.wasClean).to.equal(false);
      raw.destroy();
    } finally {
      server.stop();
    }
  });

  it('delivers messages that arrive before anyone subscribes to the first subscriber', async () => {
    let later: Promise<(string | Buffer)[]> | null = null;
    const server = await startServer((c) => {
      setTimeout(() => (later = firstValueFrom(c.messages$.pipe(take(3), toArray()))), 50);
    });
    try {
      const ws = await wsOpen(server.url);
      ws.send('a');
      ws.send('b');
      ws.send('c');
      await new Promise((r) => setTimeout(r, 100));
      expect(await within(later!)).to.deep.equal(['a', 'b', 'c']);
      ws.terminate();
    } finally {
      server.stop();
    }
  });

  it('is an Observer: next sends, complete closes with 1000, error closes with the error code', async () => {
    const server = await startServer(() => undefined);
    try {
      const ws = await wsOpen(server.url);
      const conn = server.connections[0];
      const got = wsNext(ws);
      conn.next('from server');
      expect((await within(got)).data.toString()).to.equal('from server');
      const bin = wsNext(ws);
      conn.next(new Uint8Array([9, 8]));
      expect(await within(bin)).to.deep.equal({ data: Buffer.from([9, 8]), binary: true });
      const closed = wsClose(ws);
      conn.complete();
      expect(await within(closed)).to.deep.equal({ code: 1000, reason: '' });

      const ws2 = await wsOpen(server.url);
      const closed2 = wsClose(ws2);
      server.connections[1].error(new WebSocketError('custom failure', 'APP', 4321));
      expect(await within(closed2)).to.deep.equal({ code: 4321, reason: 'custom failure' });

      const ws3 = await wsOpen(server.url);
      const closed3 = wsClose(ws3);
      server.connections[2].error(new Error('boom'));
      expect(await within(closed3)).to.deep.equal({ code: 1011, reason: 'boom' });
    } finally {
      server.stop();
    }
  });

  it('a message handed to next before complete() goes out before the close frame', async () => {
    const server = await startServer(() => undefined);
    try {
      const ws = await wsOpen(server.url);
      const conn = server.connections[0];
      const received: string[] = [];
      ws.on('message', (d) => received.push(d.toString()));
      const closed = wsClose(ws);
      for (let i = 0; i < 100; i++) conn.next(`m${i}`);
      conn.complete();
      await within(closed);
      expect(received).to.deep.equal(Array.from({ length: 100 }, (_, i) => `m${i}`));
    } finally {
      server.stop();
    }
  });

  it('a next after the close is reported on undelivered$, never silently dropped', async () => {
    const server = await startServer(() => undefined);
    try {
      const ws = await wsOpen(server.url);
      const conn = server.connections[0];
      const reports: Undelivered[] = [];
      conn.undelivered$.subscribe((u) => reports.push(u));
      ws.close();
      await within(conn.closed);
      conn.next('too late');
      expect(conn.send('also late')).to.equal(false);
      expect(reports.map((r) => r.data)).to.deep.equal(['too late', 'also late']);
      expect(reports[0].error).to.be.instanceOf(NotDeliveredError);
      // The echo contract: complete() after a clean close is harmless.
      conn.complete();
      conn.error(new Error('late'));
    } finally {
      server.stop();
    }
  });

  it('conn.messages$.subscribe(conn) is a complete echo server', async () => {
    const server = await startServer();
    try {
      const ws = await wsOpen(server.url);
      const got = wsNext(ws);
      ws.send('echo me');
      expect((await within(got)).data.toString()).to.equal('echo me');
      const closed = wsClose(ws);
      ws.close(1000, 'bye');
      expect(await within(closed)).to.deep.equal({ code: 1000, reason: '' });
      expect(await within(server.connections[0].closed)).to.deep.include({ code: 1000, reason: 'bye', wasClean: true });
    } finally {
      server.stop();
    }
  });

  it('send() with fragmentSize and binary options', async () => {
    const server = await startServer(() => undefined);
    try {
      const { conn, sub } = await openClient(server.url);
      const serverSide = server.connections[0];
      const frames = firstValueFrom(serverSide.frames$.pipe(take(4), toArray()));
      const messages = firstValueFrom(serverSide.messages$.pipe(take(2), toArray()));
      conn.send('abcdefgh', { fragmentSize: 3 });
      conn.send('as bytes', { binary: true });
      const f = await within(frames);
      expect(f.map((x) => [x.opcode, x.fin, x.payload.toString()])).to.deep.equal([
        [1, false, 'abc'],
        [0, false, 'def'],
        [0, true, 'gh'],
        [2, true, 'as bytes'],
      ]);
      const m = await within(messages);
      expect(m).to.deep.equal(['abcdefgh', Buffer.from('as bytes')]);
      sub.unsubscribe();
    } finally {
      server.stop();
    }
  });

  it('ping() emits the round-trip time when the pong comes; pings$ and pongs$ see payloads', async () => {
    const server = await startServer(() => undefined);
    try {
      const { conn, sub } = await openClient(server.url);
      const serverSide = server.connections[0];
      const pinged = firstValueFrom(serverSide.pings$);
      const ponged = firstValueFrom(conn.pongs$);
      const rtt = await within(conn.ping('probe'));
      expect(rtt).to.be.a('number').and.at.least(0);
      expect((await within(pinged)).toString()).to.equal('probe');
      expect((await within(ponged)).toString()).to.equal('probe');
      expect(() => conn.ping(Buffer.alloc(126))).to.throw(UsageError);
      sub.unsubscribe();
    } finally {
      server.stop();
    }
  });

  it('close() validates code and reason, and closed reports both sides', async () => {
    const server = await startServer(() => undefined);
    try {
      const { conn, ended } = await openClient(server.url);
      expect(() => conn.close(1005)).to.throw(UsageError);
      expect(() => conn.close(1000, 'x'.repeat(124))).to.throw(UsageError);
      conn.close(4100, 'client done');
      const info = await within(conn.closed);
      expect(info).to.deep.include({ code: 4100, wasClean: true, sentCode: 4100 });
      const serverInfo = await within(server.connections[0].closed);
      expect(serverInfo).to.deep.include({ code: 4100, reason: 'client done', wasClean: true });
      const e = (await within(ended)).error as WebSocketError;
      expect(e.closeCode, 'a clean close with a non-normal code still errors connect()').to.equal(4100);
    } finally {
      server.stop();
    }
  });

  it('exposes bufferedAmount and drain$ so a pipeline can slow down', async () => {
    const server = await startServer(() => undefined, { highWaterMark: 64 * 1024 });
    try {
      // A raw client that completes the handshake and then does not read.
      const raw = net.connect(server.port, '127.0.0.1');
      raw.write(
        RAW_UPGRADE + '\r\n',
      );
      const conn: Connection = await within(server.nextConnection());
      raw.pause();
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      while (!conn.congested && sent < 4096) {
        conn.send(chunk);
        sent++;
        await new Promise((r) => setImmediate(r));
      }
      expect(conn.congested).to.equal(true);
      expect(conn.bufferedAmount).to.be.greaterThan(64 * 1024);
      const drained = firstValueFrom(conn.drain$);
      raw.resume();
      await within(drained);
      expect(conn.congested).to.equal(false);
      raw.destroy();
    } finally {
      server.stop();
    }
  });
});
