/**
 * The echo server `npm start` runs: every message comes back as it came
 * (text as text, binary as binary).
 *
 *   npm start                      # ws://127.0.0.1:8080
 *   PORT=9000 HOST=0.0.0.0 npm start
 */
import { listen } from 'ws-rx';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? process.argv[2] ?? 8080);

const server$ = listen({ host, port });
server$.address$.subscribe((a) => console.log(`echo server listening on ws://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`));

const subscription = server$.subscribe({
  next: (conn) => conn.messages$.subscribe(conn),
  error: (err) => {
    console.error(`echo server failed: ${err.message}`);
    process.exitCode = 1;
  },
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('shutting down');
    subscription.unsubscribe();
  });
}
