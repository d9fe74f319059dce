/**
 * Reference echo server built on the `ws` package (which passes the real
 * Autobahn|Testsuite). Used to validate the conformance cases themselves.
 *
 * ```
 * node -r ts-node/register/transpile-only autobahn/conformance/ws-reference-server.ts [--port 9001]
 * ```
 *
 * @packageDocumentation
 */

import { WebSocketServer } from 'ws';
import type { ServerOptions } from 'ws';
import type { AddressInfo } from 'node:net';

/** A running reference server. */
export interface RunningServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Start `new WebSocketServer({ port })` on 127.0.0.1 that echoes every message
 * with the same type (text stays text, binary stays binary).
 * @param port 0 picks a free port
 * @param options more `ws` server options (e.g. `perMessageDeflate`)
 */
export function startWsReferenceServer(port = 0, options: ServerOptions = {}): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 64 * 1024 * 1024, ...options });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => undefined);
    });
    wss.once('error', reject);
    wss.once('listening', () => {
      const p = (wss.address() as AddressInfo).port;
      resolve({
        port: p,
        url: `ws://127.0.0.1:${p}`,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => r());
          }),
      });
    });
  });
}

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 9001;
  startWsReferenceServer(port, process.argv.includes('--deflate') ? { perMessageDeflate: true } : {}).then((s) => console.log(`ws reference echo server listening on ${s.url}`));
}
