/**
 * Memory per open connection: how much a server holds for each idle
 * WebSocket connection, ws-rx beside `ws` and node-min.
 *
 * Each server runs in a child process with `--expose-gc` and
 * bench/heap-probe.ts preloaded. A client process of its own opens N
 * connections (a raw handshake and one echoed 39-byte text message each, 200
 * handshakes in flight) and keeps them open. The server is measured after
 * full GCs before the client connects and again with all N open:
 *
 * - heap per connection: the growth of V8's used heap, divided by N (the JS
 *   objects a connection keeps: socket, streams, protocol state, Rx
 *   subscription);
 * - RSS per connection: the growth of the process's resident memory, divided
 *   by N (heap pages plus native memory: libuv handles, OpenSSL-free here).
 *
 *   npm run build && node dist/bench/memory.js [connections=10000] [--json]
 *
 * The servers: examples/bench-server.ts (ws-rx, the Rx API as users use it),
 * bench/ws-echo-server.ts (`ws`) and, when ../shared/bench is there (or
 * $WS_BENCH_DIR), its peers/node_min_echo.js: the least a Node server can
 * keep per connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, waitListening } from './ports';

const HANDSHAKES_IN_FLIGHT = 200;
const MESSAGE = Buffer.from('TEST TEST TEST TEST TEST TEST TEST TEST'.slice(0, 39));

interface Measured {
  heapUsed: number;
  rss: number;
  external: number;
}

/** One connection of the holding client: handshake, one masked text frame, wait for its echo. */
function openOne(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let received = Buffer.alloc(0);
    let upgraded = -1;
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the echo')));
    socket.on('connect', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (upgraded < 0) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!received.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
          reject(new Error(`handshake refused: ${received.subarray(0, end).toString('latin1').split('\r\n')[0]}`));
          return;
        }
        upgraded = end + 4;
        const mask = crypto.randomBytes(4);
        const frame = Buffer.alloc(6 + MESSAGE.length);
        frame[0] = 0x81;
        frame[1] = 0x80 | MESSAGE.length;
        mask.copy(frame, 2);
        for (let i = 0; i < MESSAGE.length; i++) frame[6 + i] = MESSAGE[i] ^ mask[i & 3];
        socket.write(frame);
      }
      const echo = received.subarray(upgraded);
      if (echo.length < 2 + MESSAGE.length) return;
      if (echo[0] !== 0x81 || echo[1] !== MESSAGE.length || !echo.subarray(2, 2 + MESSAGE.length).equals(MESSAGE)) {
        reject(new Error('wrong echo'));
        return;
      }
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.on('close', () => process.send?.({ lost: 1 }));
      resolve(socket);
    });
  });
}

/** Child mode: opens `n` connections to `port`, reports over IPC, then holds them until killed. */
async function hold(port: number, n: number): Promise<void> {
  const sockets: net.Socket[] = [];
  let next = 0;
  let failed = 0;
  let firstError = '';
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        sockets.push(await openOne(port));
      } catch (error) {
        failed++;
        firstError ||= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HANDSHAKES_IN_FLIGHT, n) }, worker));
  process.send!({ open: sockets.length, failed, firstError });
}

function ask<T>(child: ChildProcess, message: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to '${message}' in ${ms} ms`)), ms);
    child.once('message', (answer) => {
      clearTimeout(timer);
      resolve(answer as T);
    });
    if (message) child.send(message);
  });
}

interface ServerSpec {
  name: string;
  script: string;
}

interface Row {
  server: string;
  connections: number;
  heap_bytes_per_connection: number;
  rss_bytes_per_connection: number;
  heap_mb_at_n: number;
  rss_mb_at_n: number;
  baseline_rss_mb: number;
}

async function measureServer(spec: ServerSpec, n: number): Promise<Row> {
  const port = await freePort();
  const probe = path.join(__dirname, 'heap-probe.js');
  const server = spawn(process.execPath, ['--expose-gc', '-r', probe, spec.script, String(port)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let holder: ChildProcess | null = null;
  try {
    if (!(await waitListening(port, 10_000))) throw new Error(`${spec.name} did not listen`);
    const before = await ask<Measured>(server, 'measure', 30_000);
    holder = spawn(process.execPath, [__filename, '--hold', String(port), String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const opened = await ask<{ open: number; failed: number; firstError: string }>(holder, '', 180_000);
    if (opened.failed > 0) throw new Error(`${spec.name}: ${opened.failed} of ${n} connections failed (${opened.firstError})`);
    // Let the last writes settle before measuring.
    await new Promise((r) => setTimeout(r, 500));
    const after = await ask<Measured>(server, 'measure', 60_000);
    const perConn = (k: keyof Measured): number => Math.round((after[k] - before[k]) / n);
    return {
      server: spec.name,
      connections: n,
      heap_bytes_per_connection: perConn('heapUsed'),
      rss_bytes_per_connection: perConn('rss'),
      heap_mb_at_n: Math.round((after.heapUsed - before.heapUsed) / 104857.6) / 10,
      rss_mb_at_n: Math.round((after.rss - before.rss) / 104857.6) / 10,
      baseline_rss_mb: Math.round(before.rss / 104857.6) / 10,
    };
  } finally {
    holder?.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}

/** The servers to measure (node-min only when the shared bench directory is there). */
export function memoryServers(dist: string, benchDir: string): ServerSpec[] {
  const servers: ServerSpec[] = [
    { name: 'ws-rx', script: path.join(dist, 'examples', 'bench-server.js') },
    { name: 'ws', script: path.join(dist, 'bench', 'ws-echo-server.js') },
  ];
  const nodeMin = path.join(benchDir, 'peers', 'node_min_echo.js');
  if (fs.existsSync(nodeMin)) servers.push({ name: 'node-min', script: nodeMin });
  return servers;
}

/** Measures every server in turn; progress on stderr. */
export async function measureMemory(servers: ServerSpec[], n: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const s of servers) {
    const row = await measureServer(s, n);
    process.stderr.write(
      `  ${s.name.padEnd(9)} ${String(row.heap_bytes_per_connection).padStart(6)} B heap/conn  ` +
        `${String(row.rss_bytes_per_connection).padStart(6)} B RSS/conn  (${n} connections: +${row.heap_mb_at_n} MB heap, +${row.rss_mb_at_n} MB RSS)\n`,
    );
    rows.push(row);
  }
  return rows;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--hold') return hold(Number(argv[1]), Number(argv[2]));
  const n = Number(argv.find((a) => /^\d+$/.test(a)) ?? 10_000);
  const dist = path.resolve(__dirname, '..');
  const benchDir = path.resolve(process.env.WS_BENCH_DIR ?? path.join(dist, '..', '..', 'shared', 'bench'));
  process.stderr.write(`memory: ${n} idle connections per server\n`);
  const rows = await measureMemory(memoryServers(dist, benchDir), n);
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(rows) + '\n');
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`memory: ${error.message}\n`);
    process.exit(1);
  });
}
