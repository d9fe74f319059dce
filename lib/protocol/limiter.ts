/**
 * A tiny concurrency limiter for zlib work (ws `lib/limiter.js`).
 *
 * Why: zlib runs in libuv's thread pool, and every operation in flight holds
 * its own input, output and zlib state. With thousands of connections
 * compressing at once, unbounded concurrency leads to severe memory growth and
 * fragmentation (ws issue #1369, nodejs/node#8871); queueing the work behind a
 * small number of slots keeps memory flat at little cost in latency.
 *
 * No timers, no I/O: a job is started immediately when a slot is free,
 * otherwise queued; calling the `done` it is given frees the slot and starts
 * the next job, in FIFO order.
 */

/** A unit of work: call `done` exactly once when it has finished. */
export type LimiterJob = (done: () => void) => void;

/** See the module comment. */
export class Limiter {
  /** Jobs running now. */
  pending = 0;
  /** Most jobs allowed to run at once. */
  readonly concurrency: number;
  private readonly jobs: LimiterJob[] = [];
  private head = 0;
  private readonly release: () => void;

  constructor(concurrency: number) {
    this.concurrency = concurrency > 0 && Number.isFinite(concurrency) ? Math.floor(concurrency) : Infinity;
    this.release = () => {
      this.pending--;
      this.run();
    };
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.jobs.length - this.head;
  }

  /** Adds a job; it runs now if a slot is free. */
  add(job: LimiterJob): void {
    this.jobs.push(job);
    this.run();
  }

  private run(): void {
    while (this.pending < this.concurrency && this.head < this.jobs.length) {
      const job = this.jobs[this.head];
      this.jobs[this.head++] = undefined as unknown as LimiterJob;
      if (this.head === this.jobs.length) {
        this.jobs.length = 0;
        this.head = 0;
      }
      this.pending++;
      let called = false;
      job(() => {
        // A job that calls `done` twice must not free two slots.
        if (called) return;
        called = true;
        this.release();
      });
    }
  }
}
