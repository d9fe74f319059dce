/**
 * Compressed echo: ws-rx vs ws, both with permessage-deflate on.
 *
 * The same `ws` clients (perMessageDeflate on) drive an echo server written
 * with each library, so only the server side differs; then a ws-rx client
 * drives a ws server, to compare the client side. Every message is compressed
 * (threshold 0 on both), text of `SIZE` bytes from a small vocabulary.
 *
 *   node -r ts-node/register/transpile-only bench/deflate.ts [size=4096] [messages=40000] [clients=8]
 *
 * Prints messages per second for each and the ratio ws-rx / ws.
 */
import type { AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, listen } from '../lib';

const SIZE = Number(process.argv[2] ?? 4096);
const TOTAL = Number(process.argv[3] ?? 40_000);
const CLIENTS = Number(process.argv[4] ?? 8);
const WINDOW = 16;
const ROUNDS = 3;

function payload(size: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', '"id":', '1234', '{"type":"update"}', 'ws-rx'];
  let s = '';
  let x = 7;
  while (s.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + ' ';
  }
  return s.slice(0, size);
}
const MESSAGE = payload(SIZE);

/** Runs `CLIENTS` ws clients against `url`, each echoing TOTAL/CLIENTS messages with WINDOW in flight. */
async function drive(url: string): Promise<number> {
  const per = Math.floor(TOTAL / CLIENTS);
  const sockets = await Promise.all(
    Array.from({ length: CLIENTS }, () => {
      const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
      return new Promise<WebSocket>((resolve, reject) => {
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    }),
  );
  const t0 = process.hrtime.bigint();
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let sent = 0;
          let received = 0;
          ws.on('message', () => {
            received++;
            if (sent < per) {
              ws.send(MESSAGE);
              sent++;
            }
            if (received === per) resolve();
          });
          for (; sent < WINDOW && sent < per; sent++) ws.send(MESSAGE);
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const ws of sockets) ws.terminate();
  return (per * CLIENTS) / seconds;
}

/** A ws-rx client driving `url` the same way. */
async function driveRx(url: string): Promise<number> {
  const per = Math.floor(TOTAL / CLIENTS);
  const subs: { unsubscribe(): void }[] = [];
  const conns = await Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        new Promise<import('../lib').Connection>((resolve, reject) => {
          subs.push(connect(url, { perMessageDeflate: { threshold: 0 } }).subscribe({ next: resolve, error: reject }));
        }),
    ),
  );
  const t0 = process.hrtime.bigint();
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          let sent = 0;
          let received = 0;
          c.messages$.subscribe(() => {
            received++;
            if (sent < per) {
              c.send(MESSAGE);
              sent++;
            }
            if (received === per) resolve();
          });
          for (; sent < WINDOW && sent < per; sent++) c.send(MESSAGE);
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of subs) s.unsubscribe();
  return (per * CLIENTS) / seconds;
}

async function rxServer(): Promise<{ url: string; stop(): void }> {
  const server$ = listen({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  const sub = server$.subscribe((c) => c.messages$.subscribe(c));
  const { port } = await firstValueFrom(server$.address$);
  return { url: `ws://127.0.0.1:${port}`, stop: () => sub.unsubscribe() };
}

async function wsServer(): Promise<{ url: string; stop(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  await new Promise<void>((r) => wss.once('listening', r));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, stop: () => wss.close() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function main(): Promise<void> {
  console.log(`compressed echo: ${SIZE} B text, ${TOTAL} messages, ${CLIENTS} clients, ${WINDOW} in flight each, median of ${ROUNDS}`);
  const results: Record<string, number[]> = { 'ws-rx server': [], 'ws server': [], 'ws-rx client': [], 'ws client': [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate so neither side always runs on a warmer process.
    const rx = await rxServer();
    results['ws-rx server'].push(await drive(rx.url));
    rx.stop();
    const ws = await wsServer();
    results['ws server'].push(await drive(ws.url));
    results['ws-rx client'].push(await driveRx(ws.url));
    results['ws client'].push(await drive(ws.url));
    ws.stop();
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(14)} ${Math.round(v).toString().padStart(8)} msg/s`);
  console.log(`server ratio ws-rx / ws: ${(m['ws-rx server'] / m['ws server']).toFixed(2)}`);
  console.log(`client ratio ws-rx / ws: ${(m['ws-rx client'] / m['ws client']).toFixed(2)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
