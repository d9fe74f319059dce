/**
 * An echo server on `ws` (the project's devDependency), port as the last
 * argument, 127.0.0.1: the peer of examples/bench-server.ts in
 * bench/memory.ts. Echoes every message with its type.
 */
import { WebSocketServer } from 'ws';

const port = Number(process.argv[process.argv.length - 1]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 1024, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
