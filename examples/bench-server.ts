/**
 * The echo server for ../shared/bench/run.sh: the Rx API exactly as users use
 * it, on 127.0.0.1, port as the last argument (or `--port N`).
 *
 *   npm run bench:server -- --port 9000
 *   SERVERS='ws-rx=node dist/examples/bench-server.js' ../shared/bench/run.sh ws ws-rx node-min
 */
import { listen } from 'ws-rx';

const argv = process.argv.slice(2);
const flag = argv.indexOf('--port');
const port = Number(flag >= 0 ? argv[flag + 1] : argv[argv.length - 1] ?? 9000);

listen({ host: '127.0.0.1', port, backlog: 1024 }).subscribe((conn) => conn.messages$.subscribe(conn));

// Exit normally on a signal so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
