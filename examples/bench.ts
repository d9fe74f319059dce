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
import { makeMessages, parseArgs, Tally } from './bench-workload';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const message = makeMessages(args.size);
  const tally = new Tally(args, { client: 'ws-rx' });

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
                      tally.mismatches++;
                      throw new Error(`connection ${id}: echo ${seq} differs`);
                    }
                    tally.echoes++;
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
                  tally.done++;
                }),
              );
            }),
            take(1), // not before: unsubscribing from connect() closes the connection
            catchError(() => {
              tally.errors++;
              return EMPTY; // unsubscribing closes a connection that is still open
            }),
          ),
        args.concurrency,
      ),
    ),
    { defaultValue: undefined },
  );
  tally.finish();
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 2;
});
