/**
 * `npm run bench`: runs the ws-rx benchmarks and writes
 * bench/results/latest.json and bench/results/chart.svg.
 *
 *   npm run bench                                 # build, then every part
 *   npm run bench -- --quick                      # smaller workloads, fewer rounds (minutes, not tens)
 *   npm run bench -- --only micro,client          # some parts: server, client, micro, deflate, memory
 *   npm run bench -- --servers wsecho,ws,ws-rx    # the servers for run.sh (default: wsecho,ws,ws-rx,node-min,handle-min)
 *   npm run bench:run -- ...                      # the same without the build
 *
 * Parts (progress on stderr):
 * - server: `../shared/bench/run.sh` (or $WS_BENCH_DIR/run.sh), the neutral C
 *   client `wsload` against ws-rx (examples/bench-server.ts) beside ws,
 *   node-min and wsecho: seed, small, large. Skipped when the directory is not
 *   there.
 * - client: examples/bench.ts (ws-rx as the client) against bench/ws-client.ts
 *   (the same client on `ws`, with and without bufferutil) and
 *   bench/node-min-client.ts (the least a client on node:net can do), all
 *   against the C echo server `wsecho`; 10,000 connections × 10 ping-pongs,
 *   median of 3.
 * - micro: bench/micro.ts, FrameParser/FrameWriter vs ws's Receiver/Sender.
 * - deflate: bench/deflate.ts, compressed echo vs ws (server and client side).
 * - memory: bench/memory.ts, heap and RSS per idle connection (10,000 open)
 *   for ws-rx, ws and node-min.
 *
 * Options: --out DIR (default bench/results), --rounds N (client rounds).
 * Environment: WS_BENCH_DIR, PEERS_DIR (where ../shared/bench/peers/install.sh put
 * node_modules; its bufferutil lets ws load the addon), and run.sh's own
 * (SEED_ARGS, SMALL_ARGS, LARGE_ARGS, WL_TIMEOUT...). Never part of `npm test`.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderChart, type ChartData } from './chart';
import { measureMemory, memoryServers } from './memory';
import { freePort, waitListening } from './ports';

const PARTS = ['server', 'client', 'micro', 'deflate', 'memory'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  quick: boolean;
  only: Set<Part>;
  servers: string[];
  out: string;
  rounds: number;
}

/** The repository root: the nearest directory up with ws-rx's package.json. */
function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ws-rx') return dir;
    if (path.dirname(dir) === dir) throw new Error('cannot find the ws-rx repository root');
  }
}

const ROOT = findRoot(__dirname);
/** The compiled tree this runner belongs to (dist/ after `npm run build`). */
const DIST = __filename.endsWith('.js') ? path.resolve(__dirname, '..') : path.join(ROOT, 'dist');
const BENCH_DIR = path.resolve(process.env.WS_BENCH_DIR ?? path.join(ROOT, '..', 'shared', 'bench'));
const PEERS_DIR = process.env.PEERS_DIR ?? path.join(process.env.TMPDIR ?? '/tmp', 'ws-bench', 'peers');
const PEER_MODULES = path.join(PEERS_DIR, 'node_modules');
const HAVE_BUFFERUTIL = fs.existsSync(path.join(PEER_MODULES, 'bufferutil'));

function parseOptions(argv: string[]): Options {
  const o: Options = {
    quick: false,
    only: new Set(PARTS),
    servers: ['wsecho', 'ws', 'ws-rx', 'node-min', 'handle-min'],
    out: path.join(ROOT, 'bench', 'results'),
    rounds: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick') o.quick = true;
    else if (flag === '--only') {
      const parts = value().split(',').filter(Boolean);
      for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`unknown part ${p} (${PARTS.join(', ')})`);
      o.only = new Set(parts as Part[]);
    } else if (flag === '--servers') o.servers = value().split(',').filter(Boolean);
    else if (flag === '--out') o.out = path.resolve(value());
    else if (flag === '--rounds') o.rounds = Number(value());
    else if (flag === '--help' || flag === '-h') {
      console.error(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (o.rounds <= 0) o.rounds = o.quick ? 1 : 3;
  return o;
}

const log = (s: string): void => void process.stderr.write(s + '\n');

/** Runs a command; stdout is returned (and echoed to stderr when `echo`), stderr passes through. */
function run(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; echo?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (options.echo) process.stderr.write(d);
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          log(`  ${cmd} ${args.join(' ')}: timed out, killing ${child.pid}`);
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : null;
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? -1, stdout });
    });
  });
}

function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // not JSON
    }
  }
  return null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---- part: server (../shared/bench/run.sh) ----------------------------------

interface RunShRow {
  server: string;
  workload: string;
  args: string;
  rc: number;
  server_peak_rss_kb: number;
  server_cpu_ms: number;
  wall_ms: number;
  load: Record<string, number | string | boolean | object> | null;
}

async function serverPart(o: Options): Promise<object> {
  const runSh = path.join(BENCH_DIR, 'run.sh');
  if (!fs.existsSync(runSh)) {
    log(`server: ${runSh} not found (set WS_BENCH_DIR): skipped`);
    return { skipped: `no ${runSh}` };
  }
  const results = path.join(os.tmpdir(), `ws-rx-bench-${process.pid}-${Date.now()}.jsonl`);
  // handle-min: node-min on libuv's handle (bench/handle-min-echo.ts), the ceiling for ws-rx's HandleSocket.
  const servers = [
    `ws-rx=node ${path.join(DIST, 'examples', 'bench-server.js')}`,
    `handle-min=node --no-deprecation ${path.join(DIST, 'bench', 'handle-min-echo.js')}`,
  ];
  const env: NodeJS.ProcessEnv = { SERVERS: servers.join(';'), RESULTS: results };
  if (o.quick) {
    env.SEED_ARGS = process.env.SEED_ARGS ?? '-c 2000 -n 10 -s 39 -p 1';
    env.SMALL_ARGS = process.env.SMALL_ARGS ?? '-c 100 -n 500 -s 64 -p 16 --barrier';
    env.LARGE_ARGS = process.env.LARGE_ARGS ?? '-c 10 -n 50 -s 65536 -p 4 --barrier';
  }
  log(`server: ${runSh} ${o.servers.join(' ')}${o.quick ? ' (quick workloads)' : ''}`);
  const { code, stdout } = await run('bash', [runSh, ...o.servers], { env, echo: true });
  const rows: RunShRow[] = fs.existsSync(results)
    ? fs
        .readFileSync(results, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as RunShRow)
    : [];
  fs.rmSync(results, { force: true });
  const summary: Record<string, Record<string, number | boolean | null>> = {};
  for (const r of rows) {
    const s = (summary[r.server] ??= {});
    const load = r.load ?? {};
    const clean = r.rc === 0 && Number(load.errors ?? 1) === 0 && Number(load.mismatches ?? 1) === 0;
    if (r.workload === 'seed') {
      s.seed_total_ms = num(load.total_ms);
      s.seed_connect_ms = num(load.connect_ms);
      s.seed_peak_rss_mb = Math.round(r.server_peak_rss_kb / 102.4) / 10;
      s.seed_ok = clean;
    } else if (r.workload === 'small') {
      s.small_msgs_per_s = num(load.msgs_per_s);
      s.small_rtt_p99_us = num(load.rtt_p99_us);
      s.small_server_cpu_pct = r.wall_ms > 0 ? Math.round((100 * r.server_cpu_ms) / r.wall_ms) : null;
      s.small_ok = clean;
    } else if (r.workload === 'large') {
      s.large_mb_per_s = num(load.mb_per_s);
      s.large_ok = clean;
    }
  }
  const ws = summary.ws;
  const ratios: Record<string, Record<string, number | null>> = {};
  if (ws) {
    for (const [name, s] of Object.entries(summary)) {
      ratios[name] = {
        seed_total_ms: ratio(s.seed_total_ms, ws.seed_total_ms),
        small_msgs_per_s: ratio(s.small_msgs_per_s, ws.small_msgs_per_s),
        large_mb_per_s: ratio(s.large_mb_per_s, ws.large_mb_per_s),
      };
    }
  }
  return {
    command: `SERVERS='ws-rx=node dist/examples/bench-server.js;handle-min=node --no-deprecation dist/bench/handle-min-echo.js' ${runSh} ${o.servers.join(' ')}`,
    exit_code: code,
    workloads: Object.fromEntries(
      [...new Set(rows.map((r) => r.workload))].map((w) => [w, rows.find((r) => r.workload === w)!.args]),
    ),
    summary,
    ratios_to_ws: ratios,
    table: stdout.trim(),
    rows,
  };
}

function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function ratio(a: unknown, b: unknown): number | null {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? Math.round((a / b) * 100) / 100 : null;
}

// ---- part: client (examples/bench vs bench/ws-client and bench/node-min-client against wsecho)

async function clientPart(o: Options): Promise<object> {
  const wsecho = path.join(BENCH_DIR, 'wsecho');
  if (!fs.existsSync(wsecho)) {
    log(`client: ${wsecho} not found (build it with ${path.join(BENCH_DIR, 'peers', 'install.sh')}): skipped`);
    return { skipped: `no ${wsecho}` };
  }
  const connections = o.quick ? 2000 : 10_000;
  const messages = 10;
  const port = await freePort();
  const server = spawn(wsecho, [String(port)], { stdio: 'ignore' });
  try {
    if (!(await waitListening(port, 5000))) throw new Error('wsecho did not start');
    const url = `ws://127.0.0.1:${port}`;
    const args = [url, String(connections), String(messages)];
    const clients: { name: string; script: string; env: NodeJS.ProcessEnv; flags?: string[] }[] = [
      { name: 'ws-rx', script: path.join(DIST, 'examples', 'bench.js'), env: {} },
      { name: 'ws', script: path.join(DIST, 'bench', 'ws-client.js'), env: { WS_NO_BUFFER_UTIL: '1' } },
    ];
    if (HAVE_BUFFERUTIL) {
      clients.push({ name: 'ws +bufferutil', script: path.join(DIST, 'bench', 'ws-client.js'), env: { NODE_PATH: PEER_MODULES } });
    }
    // The least a client on node:net can do: the ceiling for a client on net.Socket; with
    // --handle, on libuv's handle (ws-rx's HandleSocket), the ceiling for ws-rx's client.
    clients.push({ name: 'node-min', script: path.join(DIST, 'bench', 'node-min-client.js'), env: {} });
    clients.push({ name: 'handle-min', script: path.join(DIST, 'bench', 'node-min-client.js'), env: {}, flags: ['--handle'] });
    log(`client: ${clients.map((c) => c.name).join(', ')} clients, ${connections} x ${messages} against wsecho, ${o.rounds} round(s)`);
    const runs: Record<string, Record<string, unknown>[]> = Object.fromEntries(clients.map((c) => [c.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      // Alternate the order so that no client always runs first.
      const order = round % 2 ? [...clients].reverse() : clients;
      for (const c of order) {
        const { code, stdout } = await run('node', [c.script, ...args, ...(c.flags ?? [])], { env: c.env, timeoutMs: 180_000 });
        const line = lastJsonLine(stdout) ?? { error: `exit ${code}, no JSON` };
        line.exit_code = code;
        runs[c.name].push(line);
        log(`  ${c.name.padEnd(15)} round ${round + 1}: ${JSON.stringify(line)}`);
      }
    }
    const summary: Record<string, object> = {};
    for (const c of clients) {
      const ok = runs[c.name].filter((r) => r.exit_code === 0 && r.errors === 0);
      summary[c.name] = {
        msgs_per_s: median(ok.map((r) => Number(r.msgs_per_s))),
        total_ms: median(ok.map((r) => Number(r.total_ms))),
        clean_runs: ok.length,
        runs: runs[c.name].length,
      };
    }
    const base = summary.ws as { msgs_per_s: number };
    const ratios = Object.fromEntries(
      Object.entries(summary).map(([k, v]) => [k, ratio((v as { msgs_per_s: number }).msgs_per_s, base.msgs_per_s)]),
    );
    return {
      server: 'wsecho',
      connections,
      messages_per_connection: messages,
      commands: clients.map(
        (c) => `${Object.entries(c.env).map(([k, v]) => `${k}=${v} `).join('')}node ${path.relative(ROOT, c.script)} ${[...args, ...(c.flags ?? [])].join(' ')}`,
      ),
      summary,
      ratios_to_ws: ratios,
      runs,
    };
  } finally {
    server.kill('SIGTERM');
  }
}

// ---- part: micro --------------------------------------------------------------

async function microPart(o: Options): Promise<object> {
  log(`micro: ${path.relative(ROOT, path.join(DIST, 'bench', 'micro.js'))}${o.quick ? ' --quick' : ''}`);
  const env: NodeJS.ProcessEnv = HAVE_BUFFERUTIL ? { NODE_PATH: PEER_MODULES } : {};
  const { code, stdout } = await run('node', [path.join(DIST, 'bench', 'micro.js'), '--json', ...(o.quick ? ['--quick'] : [])], {
    env,
  });
  const json = lastJsonLine(stdout);
  if (!json) return { error: `micro exited ${code} without JSON` };
  return json;
}

// ---- part: deflate ------------------------------------------------------------

async function deflatePart(o: Options): Promise<object> {
  const args = o.quick ? ['4096', '8000', '8'] : ['4096', '40000', '8'];
  log(`deflate: bench/deflate.ts ${args.join(' ')}`);
  const { code, stdout } = await run('node', [path.join(DIST, 'bench', 'deflate.js'), ...args], { echo: true, timeoutMs: 600_000 });
  const msgs: Record<string, number> = {};
  for (const m of stdout.matchAll(/^(ws-rx server|ws server|ws-rx client|ws client)\s+(\d+) msg\/s/gm)) msgs[m[1]] = Number(m[2]);
  for (const m of stdout.matchAll(/^light client, (ws-rx|ws) server\s+(\d+) msg\/s/gm)) msgs[`${m[1]} server, light client`] = Number(m[2]);
  for (const m of stdout.matchAll(/^light server, (ws-rx|ws) client\s+(\d+) msg\/s/gm)) msgs[`${m[1]} client, light server`] = Number(m[2]);
  const clientCpu = /^light server client CPU per message: ws-rx ([\d.]+) µs, ws ([\d.]+) µs/m.exec(stdout);
  const cpu = /^server CPU per message: ws-rx ([\d.]+) µs, ws ([\d.]+) µs/m.exec(stdout);
  const lightCpu = /^light client server CPU per message: ws-rx ([\d.]+) µs, ws ([\d.]+) µs/m.exec(stdout);
  return {
    exit_code: code,
    size: Number(args[0]),
    messages: Number(args[1]),
    clients: Number(args[2]),
    msgs_per_s: msgs,
    ratios_to_ws: {
      // Server-bound (bench/deflate-load.ts, no context takeover): the servers' own throughput.
      server_light_client: ratio(msgs['ws-rx server, light client'], msgs['ws server, light client']),
      // Client-bound (bench/deflate-echo-server.ts, context takeover): the clients' own throughput.
      client_light_server: ratio(msgs['ws-rx client, light server'], msgs['ws client, light server']),
      server: ratio(msgs['ws-rx server'], msgs['ws server']),
      client: ratio(msgs['ws-rx client'], msgs['ws client']),
      // ws's server CPU per message over ws-rx's (higher: ws-rx does the same work for less).
      server_cpu: cpu ? ratio(Number(cpu[2]), Number(cpu[1])) : null,
    },
    server_cpu_us_per_msg: cpu ? { 'ws-rx': Number(cpu[1]), ws: Number(cpu[2]) } : null,
    server_cpu_us_per_msg_light_client: lightCpu ? { 'ws-rx': Number(lightCpu[1]), ws: Number(lightCpu[2]) } : null,
    client_cpu_us_per_msg_light_server: clientCpu ? { 'ws-rx': Number(clientCpu[1]), ws: Number(clientCpu[2]) } : null,
  };
}

// ---- part: memory -------------------------------------------------------------

async function memoryPart(o: Options): Promise<object> {
  const connections = o.quick ? 2000 : 10_000;
  log(`memory: bench/memory.ts, ${connections} idle connections per server`);
  const rows = await measureMemory(memoryServers(DIST, BENCH_DIR), connections);
  const ws = rows.find((r) => r.server === 'ws');
  return {
    connections,
    rows,
    // ws's bytes over ws-rx's (higher: ws-rx keeps less per connection).
    ratios_to_ws: Object.fromEntries(rows.map((r) => [r.server, ratio(ws?.heap_bytes_per_connection, r.heap_bytes_per_connection)])),
  };
}

// ---- main ---------------------------------------------------------------------

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  for (const f of ['examples/bench-server.js', 'examples/bench.js', 'bench/ws-client.js', 'bench/node-min-client.js', 'bench/micro.js', 'bench/deflate.js', 'bench/memory.js']) {
    if (!fs.existsSync(path.join(DIST, f))) throw new Error(`${path.join(DIST, f)} is missing: run npm run build (or npm run bench)`);
  }
  const started = new Date();
  const result: Record<string, unknown> = {
    date: started.toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    lib_modified: git(['status', '--porcelain', '--', 'lib']).length > 0,
    node: process.version,
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? '', total_mem_gb: Math.round(os.totalmem() / 2 ** 30), platform: `${os.type()} ${os.release()}` },
    quick: o.quick,
    parts: [...o.only],
  };
  const t0 = Date.now();
  if (o.only.has('server')) result.server = await serverPart(o);
  if (o.only.has('client')) result.client = await clientPart(o);
  if (o.only.has('micro')) result.micro = await microPart(o);
  if (o.only.has('deflate')) result.deflate = await deflatePart(o);
  if (o.only.has('memory')) result.memory = await memoryPart(o);
  result.duration_s = Math.round((Date.now() - t0) / 1000);

  fs.mkdirSync(o.out, { recursive: true });
  const jsonPath = path.join(o.out, 'latest.json');
  const svgPath = path.join(o.out, 'chart.svg');
  fs.writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  fs.writeFileSync(svgPath, renderChart(result as unknown as ChartData));
  log(`\nwrote ${path.relative(process.cwd(), jsonPath)} and ${path.relative(process.cwd(), svgPath)} (${result.duration_s} s)`);
  printSummary(result);
}

function printSummary(r: Record<string, unknown>): void {
  const server = r.server as { ratios_to_ws?: Record<string, Record<string, number | null>> } | undefined;
  const rx = server?.ratios_to_ws?.['ws-rx'];
  if (rx) {
    log(`ws-rx / ws (run.sh): seed total_ms ${rx.seed_total_ms} (target <= 0.7), small msgs/s ${rx.small_msgs_per_s} (>= 3.0), large MB/s ${rx.large_mb_per_s} (>= 1.5)`);
  }
  const client = r.client as { ratios_to_ws?: Record<string, number | null> } | undefined;
  if (client?.ratios_to_ws) log(`client side vs wsecho, msgs/s / ws: ${JSON.stringify(client.ratios_to_ws)} (target ws-rx >= 2)`);
  const deflate = r.deflate as { ratios_to_ws?: Record<string, number | null> } | undefined;
  if (deflate?.ratios_to_ws) log(`deflate ws-rx / ws: ${JSON.stringify(deflate.ratios_to_ws)} (target >= 1.2)`);
  const memory = r.memory as { rows?: { server: string; heap_bytes_per_connection: number }[] } | undefined;
  if (memory?.rows) log(`heap per idle connection: ${memory.rows.map((m) => `${m.server} ${m.heap_bytes_per_connection} B`).join(', ')}`);
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exitCode = 1;
});
