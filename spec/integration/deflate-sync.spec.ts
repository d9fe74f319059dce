/**
 * permessage-deflate on loopback with the `ws` package, where messages of
 * every size alternate so that both of ws-rx's zlib paths run in turn (small
 * frames synchronously, large ones in the thread pool; see
 * lib/protocol/deflate.ts), with pings between them: the peer sees messages
 * and pings in the order they were sent, and the echoes come back in order,
 * in both roles.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { firstValueFrom, take, toArray } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { SYNC_DEFLATE_MAX, SYNC_INFLATE_MAX } from '../../lib/protocol/deflate';
import { rng } from '../helpers';
import { loopbackScope, openClient, within, wsOpen } from './util';

type Item = ['message', string | Buffer] | ['ping', string];

/** Messages around both sync limits (compressible text, incompressible bytes), a ping every third item. */
function plan(n: number, seed: number): Item[] {
  const next = rng(seed);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'ws-rx', '{"id":', '42}', 'τέλος'];
  const text = (size: number): string => {
    let s = '';
    while (s.length < size) s += words[Math.floor(next() * words.length)] + ' ';
    return s.slice(0, size);
  };
  const noise = (size: number): Buffer => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = Math.floor(next() * 256);
    return b;
  };
  const makers: (() => string | Buffer)[] = [
    () => '',
    () => text(20),
    () => noise(600),
    () => text(3000),
    () => noise(SYNC_INFLATE_MAX + 700), // compressed still over the inflate limit: thread pool
    () => text(SYNC_DEFLATE_MAX + 4000), // over the deflate limit: thread pool
    () => Buffer.concat([noise(30_000), Buffer.alloc(40_000, 7)]),
    () => Buffer.alloc(0),
  ];
  const items: Item[] = [];
  for (let i = 0; i < n; i++) {
    items.push(['message', makers[Math.floor(next() * makers.length)]()]);
    if (i % 3 === 2) items.push(['ping', `p${i}`]);
  }
  return items;
}

const messagesOf = (items: Item[]): (string | Buffer)[] => items.filter((i) => i[0] === 'message').map((i) => i[1]);

/** Plain values to compare: text as is, binary as hex. */
const show = (items: Item[]): string[] =>
  items.map((i) => (i[0] === 'ping' ? `ping ${i[1]}` : typeof i[1] === 'string' ? `text ${i[1]}` : `binary ${i[1].toString('hex')}`));

describe('permessage-deflate, sync and thread-pool paths mixed (loopback, with ws)', function () {
  this.timeout(60_000);
  const { subs, start } = loopbackScope();

  it('ws client → ws-rx server: messages and pings arrive in order; echoes come back in order', async () => {
    const log: Item[] = [];
    const server = await start(
      (c) => {
        c.pings$.subscribe((p) => log.push(['ping', p.toString()]));
        c.messages$.subscribe((m) => {
          log.push(['message', m]);
          c.send(m);
        });
      },
      { perMessageDeflate: { threshold: 0 } },
    );
    const items = plan(300, 1);
    const ws = await wsOpen(server.url, { perMessageDeflate: { threshold: 0 } });
    expect(ws.extensions).to.equal('permessage-deflate');
    const expected = messagesOf(items);
    const got: (string | Buffer)[] = [];
    const echoed = new Promise<void>((resolve) => {
      ws.on('message', (m: Buffer, binary: boolean) => {
        got.push(binary ? m : m.toString());
        if (got.length === expected.length) resolve();
      });
    });
    for (const item of items) {
      if (item[0] === 'ping') ws.ping(item[1]);
      else ws.send(item[1], { binary: typeof item[1] !== 'string' });
    }
    await within(echoed, 30_000, 'echoes');
    expect(show(got.map((m) => ['message', m]))).to.deep.equal(show(expected.map((m) => ['message', m])));
    expect(show(log)).to.deep.equal(show(items));
    const closed = new Promise<number>((r) => ws.once('close', r));
    ws.close(1000);
    expect(await within(closed, 5000, 'close')).to.equal(1000);
  });

  it('ws-rx client → ws server: messages and pings arrive in order; echoes come back in order', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    const log: Item[] = [];
    wss.on('connection', (ws) => {
      ws.on('ping', (p: Buffer) => log.push(['ping', p.toString()]));
      ws.on('message', (m: Buffer, binary: boolean) => {
        log.push(['message', binary ? m : m.toString()]);
        ws.send(m, { binary });
      });
    });
    await new Promise<void>((r) => wss.once('listening', r));
    try {
      const url = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
      const { conn, sub } = await openClient(url, { perMessageDeflate: { threshold: 0 } });
      subs.push(sub);
      expect(conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
      const items = plan(300, 2);
      const expected = messagesOf(items);
      const replies = firstValueFrom(conn.messages$.pipe(take(expected.length), toArray()));
      for (const item of items) {
        if (item[0] === 'ping') subs.push(conn.ping(item[1]).subscribe({ error: () => undefined }));
        else conn.send(item[1]);
      }
      const got = await within(replies, 30_000, 'echoes');
      expect(show(got.map((m) => ['message', m]))).to.deep.equal(show(expected.map((m) => ['message', m])));
      expect(show(log)).to.deep.equal(show(items));
      conn.complete();
      await within(conn.closed, 5000, 'close');
    } finally {
      wss.close();
    }
  });
});
