/**
 * Interoperability with the `ws` package (a peer nobody here wrote), both
 * directions: ws client against a ws-rx server, ws-rx client against a ws
 * server.
 */
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { firstValueFrom, take, toArray } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { ConnectionClosedError } from '../../lib';
import { openClient, startServer, within } from './util';

const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}
function textOf(n: number): string {
  // ASCII plus multibyte characters, exactly n bytes.
  const unit = 'aé€😀'; // 1 + 2 + 3 + 4 bytes
  let s = unit.repeat(Math.floor(n / 10));
  s += 'x'.repeat(n - Buffer.byteLength(s));
  return s;
}

async function wsServer(): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

describe('interop with the ws package', () => {
  describe('ws client → ws-rx server', () => {
    for (const n of SIZES) {
      it(`echoes text and binary of ${n} bytes`, async () => {
        const server = await startServer();
        try {
          const ws = new WebSocket(server.url);
          await new Promise((r) => ws.once('open', r));
          const got: { data: Buffer; binary: boolean }[] = [];
          const done = new Promise<void>((resolve) =>
            ws.on('message', (data, binary) => {
              got.push({ data: data as Buffer, binary });
              if (got.length === 2) resolve();
            }),
          );
          const text = textOf(n);
          const bin = pattern(n, 7);
          ws.send(text);
          ws.send(bin);
          await within(done, 10000);
          expect(got[0].binary).to.equal(false);
          expect(got[0].data.toString()).to.equal(text);
          expect(got[1].binary).to.equal(true);
          expect(got[1].data.equals(bin)).to.equal(true);
          ws.close();
        } finally {
          server.stop();
        }
      });
    }

    it('carries close codes and reasons both ways', async () => {
      const server = await startServer(() => undefined);
      try {
        const ws = new WebSocket(server.url);
        await new Promise((r) => ws.once('open', r));
        const closed = new Promise<[number, string]>((r) => ws.once('close', (c, reason) => r([c, reason.toString()])));
        server.connections[0].close(4001, 'server says bye');
        expect(await within(closed)).to.deep.equal([4001, 'server says bye']);

        const ws2 = new WebSocket(server.url);
        await new Promise((r) => ws2.once('open', r));
        ws2.close(4002, 'client says bye');
        const info = await within(server.connections[1].closed);
        expect(info).to.deep.include({ code: 4002, reason: 'client says bye', wasClean: true });
        const err = await firstValueFrom(server.connections[1].messages$).catch((e: unknown) => e);
        expect((err as ConnectionClosedError).closeCode).to.equal(4002);
      } finally {
        server.stop();
      }
    });

    it('answers ws pings with pongs and ws answers ws-rx pings', async () => {
      const server = await startServer(() => undefined);
      try {
        const ws = new WebSocket(server.url);
        await new Promise((r) => ws.once('open', r));
        const pong = new Promise<Buffer>((r) => ws.once('pong', r));
        ws.ping(Buffer.from('from ws'));
        expect((await within(pong)).toString()).to.equal('from ws');
        const pinged = new Promise<Buffer>((r) => ws.once('ping', r));
        const rtt = await within(server.connections[0].ping('from ws-rx'));
        expect(rtt).to.be.at.least(0);
        expect((await within(pinged)).toString()).to.equal('from ws-rx');
        ws.terminate();
      } finally {
        server.stop();
      }
    });
  });

  describe('ws-rx client → ws server', () => {
    for (const n of SIZES) {
      it(`echoes text and binary of ${n} bytes`, async () => {
        const { wss, url } = await wsServer();
        wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
        try {
          const { conn, sub } = await openClient(url);
          const replies = firstValueFrom(conn.messages$.pipe(take(2), toArray()));
          const text = textOf(n);
          const bin = pattern(n, 3);
          conn.next(text);
          conn.next(bin);
          const [t, b] = await within(replies, 10000);
          expect(t).to.equal(text);
          expect(Buffer.isBuffer(b) && b.equals(bin)).to.equal(true);
          sub.unsubscribe();
        } finally {
          wss.close();
        }
      });
    }

    it('carries close codes and reasons both ways', async () => {
      const { wss, url } = await wsServer();
      const serverSockets: WebSocket[] = [];
      wss.on('connection', (ws) => serverSockets.push(ws));
      try {
        const a = await openClient(url);
        serverSockets[0].close(4001, 'ws server bye');
        const { error } = await within(a.ended);
        expect((error as ConnectionClosedError).closeCode).to.equal(4001);
        expect((error as ConnectionClosedError).reason).to.equal('ws server bye');

        const b = await openClient(url);
        const closed = new Promise<[number, string]>((r) => serverSockets[1].once('close', (c, reason) => r([c, reason.toString()])));
        b.conn.close(4002, 'ws-rx client bye');
        expect(await within(closed)).to.deep.equal([4002, 'ws-rx client bye']);
        expect(await within(b.conn.closed)).to.deep.include({ code: 4002, wasClean: true });
      } finally {
        wss.close();
      }
    });

    it('ping/pong with a ws server', async () => {
      const { wss, url } = await wsServer();
      const pinged = new Promise<Buffer>((r) => wss.on('connection', (ws) => ws.once('ping', r)));
      try {
        const { conn, sub } = await openClient(url);
        const rtt = await within(conn.ping('hi ws'));
        expect(rtt).to.be.at.least(0);
        expect((await within(pinged)).toString()).to.equal('hi ws');
        sub.unsubscribe();
      } finally {
        wss.close();
      }
    });
  });
});
