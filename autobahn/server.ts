/**
 * Echo server for the Autobahn|Testsuite fuzzingclient (and our own
 * conformance runner): text comes back as text, binary as binary, nothing more.
 *
 *   npm run autobahn:server -- --port 9001 [--host 127.0.0.1] [--deflate]
 */
import { listen, ServerOptions } from '../lib';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(arg('port') ?? 9001);
const host = arg('host') ?? '127.0.0.1';
const options: ServerOptions & { perMessageDeflate?: unknown } = { host, port, maxPayload: 64 * 1024 * 1024 };
if (process.argv.includes('--deflate')) options.perMessageDeflate = true;

const server$ = listen(options);
server$.address$.subscribe((a) => console.log(`autobahn echo server on ws://${a.address}:${a.port}`));
const sub = server$.subscribe({
  next: (conn) =>
    conn.messages$.subscribe({
      next: (m) => conn.next(m),
      // A protocol violation has already closed the connection with the right code.
      error: () => undefined,
      complete: () => undefined,
    }),
  error: (err) => {
    console.error(err);
    process.exit(1);
  },
});
process.once('SIGINT', () => sub.unsubscribe());
process.once('SIGTERM', () => sub.unsubscribe());
