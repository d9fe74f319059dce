/**
 * A chat server on the hub: every connection joins the `chat` topic, and
 * each message is published to everyone else. The frame is built once per
 * message; a member too slow to keep up misses messages (reported) instead
 * of slowing the room.
 *
 *   npx ts-node examples/chat.ts [port]            # then, in other terminals:
 *   npx ts-node examples/cli.ts ws://127.0.0.1:8080
 */
import { listen, createHub } from 'ws-rx';

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const hub = createHub({ maxBufferedAmount: 256 * 1024 });
hub.dropped$.subscribe((d) => console.log(`slow member missed a message (${d.reason})`));

const server$ = listen({ host: '127.0.0.1', port });
server$.address$.subscribe((a) => console.log(`chat on ws://127.0.0.1:${a.port}`));
let n = 0;
const server = server$.pipe(hub.joinAll('chat')).subscribe((conn) => {
  const name = `user${++n}`;
  hub.publish('chat', `* ${name} joined (${hub.members('chat').length} here)`, { except: conn });
  conn.messages$.subscribe({
    next: (m) => hub.publish('chat', `${name}: ${m}`, { except: conn }),
    error: () => {},
  });
  conn.closed.then(() => hub.publish('chat', `* ${name} left`));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.unsubscribe());
