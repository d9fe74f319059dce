/**
 * A load client (the seed's `bench`): N connections × M messages each, to an
 * echo server; prints the time taken. Defaults: 10,000 × 10.
 *
 *   npm run build && npm run bench:server &      # or any echo server
 *   npx ts-node examples/bench.ts [url] [connections] [messages]
 *   node dist/examples/bench.js ws://127.0.0.1:8080 10000 10
 *
 * Each connection is one socket: 10,000 need as many open files (`ulimit -n`).
 */
import { defer, from, lastValueFrom, mergeMap, take, toArray } from 'rxjs';
import { connect } from 'ws-rx';

const url = process.argv[2] ?? 'ws://127.0.0.1:8080';
const connections = Number(process.argv[3] ?? 10_000);
const messages = Number(process.argv[4] ?? 10);
/** Connections opened at once (the listen backlog and the OS like it bounded). */
const concurrency = Number(process.env.CONCURRENCY ?? 500);

async function main(): Promise<void> {
  const payload = 'x'.repeat(32);
  const start = performance.now();
  let done = 0;
  await lastValueFrom(
    from(Array.from({ length: connections }, (_, i) => i)).pipe(
      mergeMap(
        () =>
          defer(() => connect(url)).pipe(
            mergeMap((conn) => {
              const replies = conn.messages$.pipe(take(messages), toArray());
              for (let i = 0; i < messages; i++) conn.next(payload);
              return replies;
            }),
            take(1), // unsubscribing closes the connection (1000)
          ),
        concurrency,
      ),
      mergeMap(async () => {
        done++;
      }),
    ),
    { defaultValue: undefined },
  );
  const ms = performance.now() - start;
  const total = connections * messages;
  console.log(
    `${done} connections x ${messages} messages = ${total} round trips in ${(ms / 1000).toFixed(2)} s ` +
      `(${Math.round(total / (ms / 1000))} messages/s)`,
  );
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 1;
});
