/**
 * examples/bench.ts written with the `ws` package: the same workload, the same
 * arguments, the same checks, the same JSON line (`client: "ws"`), so the two
 * clients can be compared against one echo server (bench/run.ts uses the C
 * `wsecho`).
 *
 *   node dist/bench/ws-client.js ws://127.0.0.1:8080 10000 10
 *   NODE_PATH=/tmp/ws-bench/peers/node_modules node dist/bench/ws-client.js ...   # lets ws load bufferutil
 *
 * Arguments: [url] [connections | -c N] [messages | -n N] [-s N] [--concurrency N] [--timeout S]
 * (see examples/bench.ts). perMessageDeflate is off, as in the ws-rx client
 * (a ws client offers it by default; an echo server that accepts it would
 * make the comparison unequal).
 */
import path from 'node:path';
import WebSocket from 'ws';
import { makeMessages, parseArgs, runConnections, Tally } from '../examples/bench-workload';

/** Whether this `ws` masks with the bufferutil addon (as ws_echo.js tells). */
function bufferUtilLoaded(): boolean {
  try {
    const util = require(path.join(path.dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as { mask: Function };
    return /bufferUtil\./.test(util.mask.toString());
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const message = makeMessages(args.size);
  const tally = new Tally(args, { client: 'ws', bufferutil: bufferUtilLoaded() });

  /** One connection: open, M ping-pongs, close (1000); resolves when the socket is closed. */
  const run = (id: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(args.url, { perMessageDeflate: false });
      let seq = 0;
      let ok = false;
      ws.on('open', () => {
        if (args.messages === 0) ws.close(1000);
        else ws.send(message(id, 0));
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary || data.toString() !== message(id, seq)) {
          tally.mismatches++;
          ws.terminate();
          return;
        }
        tally.echoes++;
        if (++seq < args.messages) ws.send(message(id, seq));
        else {
          ok = true;
          ws.close(1000);
        }
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        if (ok && (code === 1000 || code === 1005)) tally.done++;
        else tally.errors++;
        resolve();
      });
    });

  await runConnections(args, run);
  tally.finish();
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 2;
});
