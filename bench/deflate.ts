/**
 * Compressed echo: ws-rx vs ws, both with permessage-deflate on.
 *
 * Two ways to load the servers:
 *
 * - **Server-bound**: bench/deflate-load.ts, a light client in a process of
 *   its own (8 connections, 16 in flight each) that negotiates no context
 *   takeover both ways, sends one precompressed payload masked afresh each
 *   time and checks echoes without inflating them (see there). The server
 *   does the full work per message (inflate, UTF-8 check, deliver, deflate)
 *   and is the bottleneck, so its throughput shows its cost.
 * - **Client-bound**: a ws-rx client and a ws client against
 *   bench/deflate-echo-server.ts, which sends compressed frames back
 *   verbatim (no zlib: valid with context takeover, since the client's
 *   inflater sees exactly what its deflater produced). The client is the
 *   bottleneck; its CPU per message is printed too.
 * - **With `ws` clients** (context takeover, the default):
 *   the same `ws` clients (perMessageDeflate on) drive an echo server written
 *   with each library, so only the server side differs; then a ws-rx client
 *   drives a ws server, to compare the client side.
 *
 * Every message is compressed (threshold 0), text of `SIZE` bytes of
 * JSON-like records that deflate to about a quarter (deflateBenchText).
 *
 * Each server runs in a process of its own (this script with `--serve ws-rx`
 * or `--serve ws`), as in ../shared/bench/run.sh, so the clients' work does not
 * share a thread with the server under test. With two cores the `ws` clients
 * are usually the bottleneck, which pulls both throughput ratios towards 1,
 * so the server's CPU time per message (user + system, from /proc, over the
 * timed part) is printed too: the server's own cost, whoever is the bottleneck.
 *
 *   node -r ts-node/register/transpile-only bench/deflate.ts [size=4096] [messages=40000] [clients=8]
 *
 * Prints messages per second for each and the ratio ws-rx / ws.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, listen } from '../lib';
import { deflateBenchText } from './deflate-load';

const SIZE = Number(process.argv[2] ?? 4096);
const TOTAL = Number(process.argv[3] ?? 40_000);
const CLIENTS = Number(process.argv[4] ?? 8);
const WINDOW = 16;
const ROUNDS = 3;

/**
 * 64 different messages, sent in turn: with context takeover a message the
 * window (32 KiB) still holds would compress to a few bytes, which no real
 * stream of messages does. 64 × 4 KiB is well past the window.
 */
const VARIANTS = 64;
const TEXT = deflateBenchText(SIZE * VARIANTS);
const MESSAGES = Array.from({ length: VARIANTS }, (_, i) => TEXT.slice(i * SIZE, (i + 1) * SIZE));

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
              ws.send(MESSAGES[sent % VARIANTS]);
              sent++;
            }
            if (received === per) resolve();
          });
          for (; sent < WINDOW && sent < per; sent++) ws.send(MESSAGES[sent % VARIANTS]);
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
              c.send(MESSAGES[sent % VARIANTS]);
              sent++;
            }
            if (received === per) resolve();
          });
          for (; sent < WINDOW && sent < per; sent++) c.send(MESSAGES[sent % VARIANTS]);
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

type ServerKind = 'ws-rx' | 'ws';

/** Starts `--serve kind` in a child process; resolves with its URL once it listens. */
function spawnServer(kind: ServerKind | 'light'): Promise<{ url: string; stop(): void; cpuMs(): number }> {
  const args =
    kind === 'light'
      ? [path.join(__dirname, `deflate-echo-server${path.extname(__filename)}`), '0']
      : [__filename, '--serve', kind];
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code} before listening`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ url: out.slice(0, nl), stop: () => child.kill(), cpuMs: () => cpuMsOf(child.pid!) });
    });
  });
}

/** Runs bench/deflate-load.ts in a process of its own against `url`; throws unless every echo checked out. */
function lightLoad(url: string): Promise<{ msgs_per_s: number; messages: number }> {
  const port = new URL(url).port;
  const script = path.join(__dirname, `deflate-load${path.extname(__filename)}`);
  const child = spawn(process.execPath, [...process.execArgv, script, port, String(SIZE), String(TOTAL), String(CLIENTS), String(WINDOW)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`deflate-load exited with ${code}: ${line}`));
      resolve(JSON.parse(line) as { msgs_per_s: number; messages: number });
    });
  });
}

/** CPU time (user + system, ms) of process `pid` so far; NaN where /proc is missing. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 Hz on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** Child mode: one echo server, URL on stdout, until killed. */
async function serve(kind: ServerKind): Promise<void> {
  const server = kind === 'ws-rx' ? await rxServer() : await wsServer();
  process.stdout.write(`${server.url}\n`);
}

/**
 * Prints one light-peer comparison as run.ts parses it: msg/s of each
 * library's `side`, their ratio and CPU µs per message (medians).
 */
function report(peer: string, side: 'client' | 'server', rates: Record<ServerKind, number[]>, cpu: Record<ServerKind, number[]>): void {
  const r = { rx: median(rates['ws-rx']), ws: median(rates.ws) };
  const c = { rx: median(cpu['ws-rx']), ws: median(cpu.ws) };
  console.log(`${peer}, ws-rx ${side} ${Math.round(r.rx).toString().padStart(8)} msg/s`);
  console.log(`${peer}, ws ${side}    ${Math.round(r.ws).toString().padStart(8)} msg/s`);
  console.log(`${peer} ${side} ratio ws-rx / ws: ${(r.rx / r.ws).toFixed(2)}`);
  console.log(`${peer} ${side} CPU per message: ws-rx ${c.rx.toFixed(1)} µs, ws ${c.ws.toFixed(1)} µs`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function main(): Promise<void> {
  console.log(`compressed echo: ${SIZE} B text, ${TOTAL} messages, ${CLIENTS} clients, ${WINDOW} in flight each, median of ${ROUNDS}`);
  const results: Record<string, number[]> = { 'ws-rx server': [], 'ws server': [], 'ws-rx client': [], 'ws client': [] };
  const cpu: Record<ServerKind, number[]> = { 'ws-rx': [], ws: [] };
  const timed = async (server: { url: string; cpuMs(): number }, kind: ServerKind | null): Promise<number> => {
    const before = server.cpuMs();
    const rate = await drive(server.url);
    // µs of server CPU per echoed message: messages = rate × seconds, so use the totals.
    if (kind !== null) cpu[kind].push(((server.cpuMs() - before) * 1000) / (Math.floor(TOTAL / CLIENTS) * CLIENTS));
    return rate;
  };
  const light: Record<ServerKind, number[]> = { 'ws-rx': [], ws: [] };
  const lightCpu: Record<ServerKind, number[]> = { 'ws-rx': [], ws: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of (round % 2 ? ['ws', 'ws-rx'] : ['ws-rx', 'ws']) as ServerKind[]) {
      const server = await spawnServer(kind);
      const before = server.cpuMs();
      const r = await lightLoad(server.url);
      lightCpu[kind].push(((server.cpuMs() - before) * 1000) / r.messages);
      light[kind].push(r.msgs_per_s);
      server.stop();
    }
  }
  // Client side, client-bound: each client library against the light echo
  // server (bench/deflate-echo-server.ts: compressed frames echoed verbatim,
  // no zlib), in this process; its CPU per message is the client's cost.
  const lightServer: Record<ServerKind, number[]> = { 'ws-rx': [], ws: [] };
  const clientCpu: Record<ServerKind, number[]> = { 'ws-rx': [], ws: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const server = await spawnServer('light');
    for (const kind of (round % 2 ? ['ws', 'ws-rx'] : ['ws-rx', 'ws']) as ServerKind[]) {
      const before = process.cpuUsage();
      lightServer[kind].push(await (kind === 'ws-rx' ? driveRx(server.url) : drive(server.url)));
      const used = process.cpuUsage(before);
      clientCpu[kind].push((used.user + used.system) / (Math.floor(TOTAL / CLIENTS) * CLIENTS));
    }
    server.stop();
  }
  report('light server', 'client', lightServer, clientCpu);
  report('light client', 'server', light, lightCpu);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate so neither side always runs on a warmer process.
    const rx = await spawnServer('ws-rx');
    results['ws-rx server'].push(await timed(rx, 'ws-rx'));
    rx.stop();
    const ws = await spawnServer('ws');
    results['ws server'].push(await timed(ws, 'ws'));
    results['ws-rx client'].push(await driveRx(ws.url));
    results['ws client'].push(await drive(ws.url));
    ws.stop();
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(14)} ${Math.round(v).toString().padStart(8)} msg/s`);
  console.log(`server ratio ws-rx / ws: ${(m['ws-rx server'] / m['ws server']).toFixed(2)}`);
  console.log(`client ratio ws-rx / ws: ${(m['ws-rx client'] / m['ws client']).toFixed(2)}`);
  const c = { rx: median(cpu['ws-rx']), ws: median(cpu.ws) };
  console.log(`server CPU per message: ws-rx ${c.rx.toFixed(1)} µs, ws ${c.ws.toFixed(1)} µs`);
  console.log(`server CPU ratio ws / ws-rx: ${(c.ws / c.rx).toFixed(2)}`);
  process.exit(0);
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3] as ServerKind).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else main().catch((e) => {
  console.error(e);
  process.exit(1);
});
