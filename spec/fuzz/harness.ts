/**
 * Fuzzing harness (issue 5, "Fuzzing"): fast-check properties run in a
 * worker thread, so that a parser stuck in a loop is a test failure ("no
 * hang") instead of a frozen test run, and failing inputs are kept as
 * regression cases in `regressions.json`.
 *
 * Knobs (environment):
 * - `FUZZ_RUNS`: runs per property (default: each property's own small
 *   number, so that `npm test` stays quick; `npm run fuzz` sets 20000);
 * - `FUZZ_SEED`: replay a seed printed by a failure (`FUZZ_PATH` too, to go
 *   straight to the shrunk counterexample);
 * - `FUZZ_STALL_MS`: how long a worker may go without finishing a run
 *   before it is declared hung (default 5000).
 */
import { expect } from 'chai';
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** One fuzz target: inputs, the property, and how inputs are stored as regressions. */
export interface FuzzTarget<T> {
  arbitrary: fc.Arbitrary<T>;
  /** Throws (or rejects) when the property does not hold for `input`. */
  check(input: T): void | Promise<void>;
  /** `check` returns a promise (the target runs asynchronous code, like zlib). */
  async?: boolean;
  /** JSON form of an input, for `regressions.json`. */
  encode(input: T): unknown;
  decode(json: unknown): T;
}

/** Regression cases of one target, as stored in `regressions.json`. */
export interface Regression {
  /** Why this case is here (the bug it caught, or what it pins down). */
  note: string;
  input: unknown;
  /**
   * A known bug not fixed yet: the case is expected to fail. While it does,
   * its test is reported pending with this text; once it passes, the test
   * fails, asking to drop the mark (a strict xfail).
   */
  xfail?: string;
}

const REGRESSIONS_FILE = path.join(__dirname, 'regressions.json');

/** The stored regression cases of `target` (`{ [target]: Regression[] }` in regressions.json). */
export function regressions(target: string): Regression[] {
  const all = JSON.parse(fs.readFileSync(REGRESSIONS_FILE, 'utf8')) as Record<string, Regression[]>;
  return all[target] ?? [];
}

/** Runs per property: `FUZZ_RUNS` or the property's default. */
export function fuzzRuns(defaultRuns: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : defaultRuns;
}

// ---- worker side -----------------------------------------------------------

/** A job for the worker. */
interface Job {
  id: number;
  module: string;
  target: string;
  mode: 'property' | 'cases';
  runs: number;
  seed?: number;
  path?: string;
  cases?: Regression[];
}

/** What a property run reports. */
export interface PropertyOutcome {
  failed: boolean;
  numRuns: number;
  seed: number;
  path?: string;
  counterexample?: unknown;
  error?: string;
}

/** What a regression run reports: the cases that failed. */
export interface CasesOutcome {
  failures: { index: number; note: string; error: string }[];
  /** Indexes of cases that passed. */
  passed: number[];
}

type WorkerMessage =
  | { id: number; type: 'progress'; runs: number }
  | { id: number; type: 'done'; outcome: PropertyOutcome | CasesOutcome }
  | { id: number; type: 'crash'; error: string };

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
}

/** Worker entry: runs jobs posted by a {@link FuzzWorker}. */
export function workerMain(port: import('node:worker_threads').MessagePort): void {
  port.on('message', (job: Job) => {
    void runJob(port, job);
  });
}

async function runJob(port: import('node:worker_threads').MessagePort, job: Job): Promise<void> {
  {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const targets = require(job.module).targets as Record<string, FuzzTarget<unknown>>;
      const target = targets[job.target];
      if (target === undefined) throw new Error(`no fuzz target ${job.target} in ${job.module}`);
      let runs = 0;
      const progress = (): void => {
        // Every run counts as progress; report often enough for the watchdog.
        if (++runs % 16 === 0) port.postMessage({ id: job.id, type: 'progress', runs } satisfies WorkerMessage);
      };
      if (job.mode === 'cases') {
        const failures: CasesOutcome['failures'] = [];
        const passed: number[] = [];
        const cases = job.cases ?? [];
        for (let index = 0; index < cases.length; index++) {
          const c = cases[index];
          try {
            await target.check(target.decode(c.input));
            passed.push(index);
          } catch (err) {
            failures.push({ index, note: c.note, error: describeError(err) });
          }
          progress();
        }
        port.postMessage({ id: job.id, type: 'done', outcome: { failures, passed } } satisfies WorkerMessage);
        return;
      }
      const params = { numRuns: job.runs, seed: job.seed, path: job.path, endOnFailure: false };
      const details = target.async
        ? await fc.check(
            fc.asyncProperty(target.arbitrary, async (input) => {
              progress();
              await target.check(input);
            }),
            params,
          )
        : fc.check(
            fc.property(target.arbitrary, (input) => {
              progress();
              target.check(input) as void;
            }),
            params,
          );
      const outcome: PropertyOutcome = { failed: details.failed, numRuns: details.numRuns, seed: details.seed };
      if (details.failed) {
        outcome.path = details.counterexamplePath ?? undefined;
        if (details.counterexample) outcome.counterexample = target.encode(details.counterexample[0]);
        outcome.error = describeError(details.errorInstance);
      }
      port.postMessage({ id: job.id, type: 'done', outcome } satisfies WorkerMessage);
    } catch (err) {
      port.postMessage({ id: job.id, type: 'crash', error: describeError(err) } satisfies WorkerMessage);
    }
  }
}

// ---- main side -------------------------------------------------------------

const WORKER_SOURCE = `
require('ts-node/register/transpile-only');
const { parentPort } = require('node:worker_threads');
require(${JSON.stringify(__filename)}).workerMain(parentPort);
`;

/**
 * A worker thread that runs fuzz jobs with a watchdog: when a job reports no
 * progress for `FUZZ_STALL_MS`, the worker is terminated and the job fails
 * as a hang (a new worker serves the next job).
 */
export class FuzzWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly stallMs = Number(process.env.FUZZ_STALL_MS) || 5000;

  constructor(private readonly module: string) {}

  private spawn(): Worker {
    if (this.worker === null) {
      this.worker = new Worker(WORKER_SOURCE, { eval: true });
      this.worker.unref();
    }
    return this.worker;
  }

  /** Runs `target`'s property; resolves with the outcome or rejects on a hang or crash. */
  property(target: string, runs: number): Promise<PropertyOutcome> {
    const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
    return this.run({ target, mode: 'property', runs, seed, path: process.env.FUZZ_PATH }) as Promise<PropertyOutcome>;
  }

  /** Replays stored regression cases. */
  cases(target: string, cases: Regression[]): Promise<CasesOutcome> {
    return this.run({ target, mode: 'cases', runs: cases.length, cases }) as Promise<CasesOutcome>;
  }

  private run(job: Omit<Job, 'id' | 'module'>): Promise<PropertyOutcome | CasesOutcome> {
    const worker = this.spawn();
    const id = this.nextId++;
    // Without an explicit seed, pick one here so a hang can still name it.
    const full: Job = { ...job, id, module: this.module, seed: job.seed ?? (Date.now() ^ (Math.random() * 0x100000000)) | 0 };
    return new Promise((resolve, reject) => {
      let runs = 0;
      let watchdog = setTimeout(stalled, this.stallMs * 4); // first job also loads ts-node and the modules
      const onMessage = (msg: WorkerMessage): void => {
        if (msg.id !== id) return;
        if (msg.type === 'progress') {
          runs = msg.runs;
          clearTimeout(watchdog);
          watchdog = setTimeout(stalled, this.stallMs);
          return;
        }
        cleanup();
        if (msg.type === 'crash') reject(new Error(`fuzz worker crashed: ${msg.error}`));
        else resolve(msg.outcome);
      };
      const onError = (err: Error): void => {
        cleanup();
        this.worker = null;
        reject(err);
      };
      const cleanup = (): void => {
        clearTimeout(watchdog);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const terminate = (): void => {
        cleanup();
        this.worker = null;
        void worker.terminate();
      };
      function stalled(): void {
        terminate();
        reject(
          new Error(
            `fuzz target ${job.target} made no progress for a while after ${runs} runs: a hang? ` +
              `Replay with FUZZ_SEED=${full.seed} FUZZ_RUNS=${job.runs}`,
          ),
        );
      }
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(full);
    });
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate();
  }
}

/**
 * Defines the mocha tests of one target: its stored regressions, then the
 * property with a bounded number of runs. A failure prints the seed and the
 * shrunk input in the form regressions.json takes.
 */
export function fuzzTests(worker: () => FuzzWorker, target: string, defaultRuns: number | null): void {
  const stored = regressions(target);
  const fixed = stored.filter((c) => c.xfail === undefined);
  const known = stored.filter((c) => c.xfail !== undefined);
  if (fixed.length > 0) {
    it(`${target}: ${fixed.length} stored regression case(s)`, async () => {
      const outcome = await worker().cases(target, fixed);
      if (outcome.failures.length > 0) {
        const f = outcome.failures[0];
        throw new Error(`${outcome.failures.length} regression case(s) of ${target} failed; #${f.index} (${f.note}):\n${f.error}`);
      }
    });
  }
  for (const c of known) {
    it(`${target}: known bug (xfail): ${c.note}`, async function () {
      const outcome = await worker().cases(target, [c]);
      if (outcome.passed.length === 1) {
        throw new Error(`xfail case now passes: remove its "xfail" mark in spec/fuzz/regressions.json (${c.note})`);
      }
      // eslint-disable-next-line no-console
      console.log(`      xfail (${c.xfail}): ${outcome.failures[0].error.split('\n')[0]}`);
      this.skip();
    });
  }
  if (defaultRuns === null) return;
  const runs = fuzzRuns(defaultRuns);
  it(`${target}: property holds for ${runs} random inputs`, async () => {
    const outcome = await worker().property(target, runs);
    if (outcome.failed) {
      const entry = JSON.stringify({ note: 'found by fuzzing: <what broke>', input: outcome.counterexample });
      throw new Error(
        `${target} failed after ${outcome.numRuns} runs (replay: FUZZ_SEED=${outcome.seed} FUZZ_PATH=${outcome.path}).\n` +
          `Add to spec/fuzz/regressions.json under "${target}":\n${entry}\n\n${outcome.error}`,
      );
    }
    expect(outcome.numRuns).to.equal(runs);
  });
}
