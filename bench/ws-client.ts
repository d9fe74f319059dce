/**
 * examples/bench.ts written with the `ws` package: the same workload, the same
 * arguments, the same checks, the same JSON line (`client: "ws"`), so the two
 * clients can be compared against one echo server (bench/run.ts uses the C
 * `wsecho`).
 *
 *   node dist/bench/ws-client.js ws://127.0.0.1:8080 10000 10
 *   NODE_PATH=/tmp/ws-bench/peers/node_modules node dist/bench/ws-client.js ...   # lets ws load bufferutil
 *
 * Arguments: [url] [connections | -c N] [messages | -n N] [-s N] [--concurrency N] [--timeout S]
 * (see examples/bench.ts). perMessageDeflate is off, as in the ws-rx client
 * (a ws client offers it by default; an echo server that accepts it would
 * make the comparison unequal).
 */
import path from 'node:path';
import WebSocket from 'ws';

interface BenchArgs {
  url: string;
  connections: number;
  messages: number;
  size: number;
  concurrency: number;
  timeout: number;
}

function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    url: 'ws://127.0.0.1:8080',
    connections: 10_000,
    messages: 10,
    size: 39,
    concurrency: Number(process.env.CONCURRENCY ?? 500),
    timeout: 120,
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`bad value for ${a}: ${argv[i]}`);
      return v;
    };
    if (a === '-c' || a === '--connections') args.connections = value();
    else if (a === '-n' || a === '--messages') args.messages = value();
    else if (a === '-s' || a === '--size') args.size = value();
    else if (a === '--concurrency') args.concurrency = value();
    else if (a === '--timeout') args.timeout = value();
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional[0] !== undefined) args.url = positional[0];
  if (positional[1] !== undefined) args.connections = Number(positional[1]);
  if (positional[2] !== undefined) args.messages = Number(positional[2]);
  return args;
}

const TAG = 16;

function makeMessages(size: number): (id: number, seq: number) => string {
  const base = 'TEST '.repeat(Math.ceil(size / 5) + 1);
  if (size < TAG) {
    const fixed = base.slice(0, size);
    return () => fixed;
  }
  const prefix = base.slice(0, size - TAG);
  return (id, seq) => prefix + id.toString(16).padStart(8, '0') + seq.toString(16).padStart(8, '0');
}

/** Whether this `ws` masks with the bufferutil addon (as ws_echo.js tells). */
function bufferUtilLoaded(): boolean {
  try {
    const util = require(path.join(path.dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as { mask: Function };
    return /bufferUtil\./.test(util.mask.toString());
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const message = makeMessages(args.size);
  let done = 0;
  let echoes = 0;
  let mismatches = 0;
  let errors = 0;
  const start = performance.now();

  const report = (timedOut: boolean): void => {
    const ms = performance.now() - start;
    const unfinished = args.connections - done - errors;
    console.log(
      JSON.stringify({
        client: 'ws',
        bufferutil: bufferUtilLoaded(),
        url: args.url,
        connections: args.connections,
        messages: echoes,
        expected_messages: args.connections * args.messages,
        size: args.size,
        concurrency: args.concurrency,
        total_ms: Math.round(ms * 10) / 10,
        msgs_per_s: Math.round(echoes / (ms / 1000)),
        errors: errors + (timedOut ? unfinished : 0),
        mismatches,
        ...(timedOut ? { timeout: true } : {}),
      }),
    );
  };
  const timer = setTimeout(() => {
    report(true);
    process.exit(1);
  }, args.timeout * 1000);

  /** One connection: open, M ping-pongs, close (1000); resolves when the socket is closed. */
  const run = (id: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(args.url, { perMessageDeflate: false });
      let seq = 0;
      let ok = false;
      ws.on('open', () => {
        if (args.messages === 0) ws.close(1000);
        else ws.send(message(id, 0));
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary || data.toString() !== message(id, seq)) {
          mismatches++;
          ws.terminate();
          return;
        }
        echoes++;
        if (++seq < args.messages) ws.send(message(id, seq));
        else {
          ok = true;
          ws.close(1000);
        }
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        if (ok && (code === 1000 || code === 1005)) done++;
        else errors++;
        resolve();
      });
    });

  // At most `concurrency` connections in progress, as mergeMap(…, concurrency) in examples/bench.ts.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < args.connections) await run(next++);
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.connections) }, worker));
  clearTimeout(timer);
  report(false);
  if (errors > 0) process.exitCode = 1;
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 2;
});
