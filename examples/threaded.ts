/**
 * A worker thread per client (the seed's `threaded` example). The server
 * runs on the main thread; each connection gets its own `Worker` that does
 * the (CPU-bound) work for that client, so one busy client does not stall
 * the others. A demo client connects three times and prints the replies.
 *
 *   npx ts-node examples/threaded.ts          (or, after npm run build: node dist/examples/threaded.js)
 */
import { isMainThread, parentPort, threadId, Worker } from 'node:worker_threads';
import { first, mergeMap, range, take, toArray } from 'rxjs';
import { connect, listen } from 'ws-rx';

if (!isMainThread) {
  // Worker: answer each message after some CPU work.
  parentPort!.on('message', (text: string) => {
    let h = 0;
    for (let i = 0; i < 2_000_000; i++) h = (h * 31 + text.charCodeAt(i % text.length)) | 0;
    parentPort!.postMessage(`worker ${threadId}: ${text.toUpperCase()} (hash ${h >>> 0})`);
  });
} else {
  const server$ = listen({ host: '127.0.0.1', port: 0 });
  const server = server$.subscribe((conn) => {
    // Under ts-node the worker needs the TypeScript loader too.
    const worker = new Worker(__filename, {
      execArgv: __filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [],
    });
    worker.on('message', (reply: string) => conn.next(reply));
    conn.messages$.subscribe({ next: (m) => worker.postMessage(String(m)), error: () => {} });
    conn.closed.then(() => worker.terminate());
  });

  server$.address$
    .pipe(
      first(),
      mergeMap((a) =>
        range(1, 3).pipe(
          mergeMap((n) =>
            connect(`ws://127.0.0.1:${a.port}`).pipe(
              mergeMap((conn) => {
                conn.next(`hello from client ${n}`);
                return conn.messages$.pipe(take(1));
              }),
              take(1),
            ),
          ),
          toArray(),
        ),
      ),
    )
    .subscribe((replies) => {
      for (const r of replies) console.log(r);
      server.unsubscribe();
    });
}
