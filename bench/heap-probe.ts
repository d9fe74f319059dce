/**
 * Preloaded (`node --expose-gc -r dist/bench/heap-probe.js server.js`) into
 * a server that bench/memory.ts measures: on the IPC message 'measure' it
 * collects garbage (full GCs until the heap stops shrinking) and answers
 * with `process.memoryUsage()`. Measurement only; no effect until asked.
 */
export {};

const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message) => {
  if (message !== 'measure' || process.send === undefined) return;
  if (gc === undefined) {
    process.send({ error: 'run with --expose-gc' });
    return;
  }
  let last = Infinity;
  for (let i = 0; i < 10; i++) {
    gc();
    const used = process.memoryUsage().heapUsed;
    if (used >= last) break;
    last = used;
  }
  process.send(process.memoryUsage());
});
