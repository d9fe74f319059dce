/**
 * A client that survives a server restart: `reconnecting(url)` keeps one
 * stream of messages across connections, queues what you send while the
 * server is down (bounded, every drop visible), and re-sends what the server
 * must hear again (`onOpen`) before the queue. Here the server stops for a
 * second and comes back on the same port.
 *
 *   npx ts-node examples/reconnect.ts
 */
import { firstValueFrom, Subscription } from 'rxjs';
import { listen, reconnecting } from 'ws-rx';

async function startServer(port: number): Promise<{ port: number; sub: Subscription }> {
  const server$ = listen({ host: '127.0.0.1', port });
  const sub = server$.subscribe((conn) =>
    conn.messages$.subscribe({ next: (m) => console.log(`server got: ${m}`), error: () => {} }),
  );
  return { port: (await firstValueFrom(server$.address$)).port, sub };
}

async function main(): Promise<void> {
  let server = await startServer(0);
  const ws = reconnecting(`ws://127.0.0.1:${server.port}`, {
    initialDelay: 100,
    maxDelay: 1000,
    onOpen: (conn) => conn.send('subscribe: news'), // what a new connection must say first
  });
  ws.state$.subscribe((s) => console.log(`state: ${s}`));
  ws.dropped$.subscribe((d) => console.log(`dropped (${d.reason}): ${d.data}`));
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  await wait(300);
  ws.next('first');
  await wait(100);
  console.log('-- stopping the server');
  server.sub.unsubscribe();
  await wait(200);
  for (const m of ['queued 1', 'queued 2', 'queued 3']) ws.next(m);
  console.log(`outbox: ${ws.outboxSize} messages`);
  await wait(800);
  console.log('-- starting the server again on the same port');
  server = await startServer(server.port);
  await wait(1500);
  ws.close();
  server.sub.unsubscribe();
}

main();
