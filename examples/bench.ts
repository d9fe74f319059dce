/**
 * A load client (the seed's `bench`), ws-rx as the client: N connections ×
 * M ping-pong messages each against an echo server; every echo is checked.
 * Defaults: 10,000 × 10, 39-byte text messages (the seed's workload).
 *
 *   npm run build && npm run bench:server -- --port 8080 &     # or any echo server
 *   node dist/examples/bench.js ws://127.0.0.1:8080 10000 10
 *   node dist/examples/bench.js ws://127.0.0.1:8080 -c 1000 -n 100 -s 64 --concurrency 200
 *
 * Arguments (the same as bench/ws-client.ts, the same client written with `ws`):
 *   [url]               target (default ws://127.0.0.1:8080)
 *   [connections]       or -c N (default 10000)
 *   [messages]          or -n N, per connection, one in flight (default 10)
 *   -s, --size N        message size in bytes (default 39)
 *   --concurrency N     connections in progress at once (default 500, or $CONCURRENCY)
 *   --timeout S         give up after S seconds (default 120)
 *
 * Each connection opens, sends message 1, waits for its echo, sends message 2,
 * ..., then closes (1000) and waits for the close to finish. Messages are
 * `TEST TEST ...` ending in a 16-hex-digit tag (connection, sequence) so that a
 * swapped or repeated echo is a mismatch. Prints one JSON line at the end:
 * `connections`, `messages` (verified echoes, all connections), `total_ms`,
 * `msgs_per_s`, `errors` (connections that did not finish cleanly), ...
 *
 * Each connection is one socket: 10,000 need as many open files (`ulimit -n`).
 */
import { catchError, count, defer, EMPTY, from, lastValueFrom, mergeMap, take, tap } from 'rxjs';
import { connect } from 'ws-rx';

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

/** Message `seq` of connection `id`: `TEST TEST ...` + hex tag (no tag below 16 bytes). */
function makeMessages(size: number): (id: number, seq: number) => string {
  const base = 'TEST '.repeat(Math.ceil(size / 5) + 1);
  if (size < TAG) {
    const fixed = base.slice(0, size);
    return () => fixed;
  }
  const prefix = base.slice(0, size - TAG);
  return (id, seq) => prefix + id.toString(16).padStart(8, '0') + seq.toString(16).padStart(8, '0');
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
        client: 'ws-rx',
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

  await lastValueFrom(
    from(Array.from({ length: args.connections }, (_, i) => i)).pipe(
      mergeMap(
        (id) =>
          defer(() => connect(args.url)).pipe(
            mergeMap((conn) => {
              let seq = 0;
              return conn.messages$.pipe(
                tap({
                  subscribe: () => conn.next(message(id, 0)),
                  next: (data) => {
                    if (data !== message(id, seq)) {
                      mismatches++;
                      throw new Error(`connection ${id}: echo ${seq} differs`);
                    }
                    echoes++;
                    if (++seq < args.messages) conn.next(message(id, seq));
                  },
                }),
                take(args.messages),
                count(),
                // Close (1000) and wait for the closing handshake to finish.
                mergeMap(async (n) => {
                  if (n !== args.messages) throw new Error(`connection ${id}: closed after ${n} echoes`);
                  conn.close();
                  const info = await conn.closed;
                  if (info.code !== 1000 && info.code !== 1005) throw new Error(`closed with ${info.code}`);
                  done++;
                }),
              );
            }),
            take(1), // not before: unsubscribing from connect() closes the connection
            catchError(() => {
              errors++;
              return EMPTY; // unsubscribing closes a connection that is still open
            }),
          ),
        args.concurrency,
      ),
    ),
    { defaultValue: undefined },
  );
  clearTimeout(timer);
  report(false);
  if (errors > 0) process.exitCode = 1;
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 2;
});
