/**
 * A WebSocket proxy: `listen(...).pipe(proxy(target))`. Every client gets its
 * own upstream connection; messages, close codes and backpressure cross it.
 *
 *   npx ts-node examples/proxy.ts ws://127.0.0.1:8080 8081   # proxy :8081 -> :8080
 *   npx ts-node examples/proxy.ts                            # demo: in-process upstream and client
 */
import { firstValueFrom, take, toArray } from 'rxjs';
import { connect, listen, proxy } from 'ws-rx';

async function main(): Promise<void> {
  const target = process.argv[2];
  const port = Number(process.argv[3] ?? 8081);
  if (target) {
    const front$ = listen({ host: '127.0.0.1', port });
    front$.address$.subscribe((a) => console.log(`proxy ws://127.0.0.1:${a.port} -> ${target}`));
    front$.pipe(proxy(target)).subscribe((s) => console.log(`joined ${s.downstream.request.remoteAddress} -> ${target}`));
    return;
  }
  // Demo: an echo upstream that says goodbye with 4001, the proxy, and a client.
  const upstream$ = listen({ host: '127.0.0.1', port: 0 });
  const upstream = upstream$.subscribe((conn) =>
    conn.messages$.subscribe({ next: (m) => (m === 'bye' ? conn.close(4001, 'see you') : conn.next(m)), error: () => {} }),
  );
  const up = await firstValueFrom(upstream$.address$);
  const front$ = listen({ host: '127.0.0.1', port: 0 });
  const front = front$.pipe(proxy(`ws://127.0.0.1:${up.port}`)).subscribe();
  const fa = await firstValueFrom(front$.address$);
  connect(`ws://127.0.0.1:${fa.port}`).subscribe({
    next: (conn) => {
      conn.messages$.pipe(take(2), toArray()).subscribe((m) => {
        console.log('client got, through the proxy:', m);
        conn.next('bye');
      });
      conn.next('text stays text');
      conn.next(Buffer.from([1, 2, 3]));
    },
    error: (err: Error) => {
      console.log(`client closed by upstream: ${err.message}`);
      front.unsubscribe();
      upstream.unsubscribe();
    },
  });
}

main();
