/**
 * The seed's client workload, shared by the two clients that run it:
 * examples/bench.ts (ws-rx) and bench/ws-client.ts (the same client written
 * with `ws`). Same arguments, same messages, same tally and JSON line, so
 * only the library differs.
 */

export interface BenchArgs {
  url: string;
  connections: number;
  messages: number;
  size: number;
  concurrency: number;
  timeout: number;
}

/** `[url] [connections | -c N] [messages | -n N] [-s N] [--concurrency N] [--timeout S]` */
export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    url: 'ws://127.0.0.1:8080',
    connections: 10_000,
    messages: 10,
    size: 39,
    concurrency: Number(process.env.CONCURRENCY ?? 500),
    timeout: 120,
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`bad value for ${a}: ${argv[i]}`);
      return v;
    };
    if (a === '-c' || a === '--connections') args.connections = value();
    else if (a === '-n' || a === '--messages') args.messages = value();
    else if (a === '-s' || a === '--size') args.size = value();
    else if (a === '--concurrency') args.concurrency = value();
    else if (a === '--timeout') args.timeout = value();
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional[0] !== undefined) args.url = positional[0];
  if (positional[1] !== undefined) args.connections = Number(positional[1]);
  if (positional[2] !== undefined) args.messages = Number(positional[2]);
  return args;
}

/**
 * Runs `run(id)` for connections 0…N-1, at most `concurrency` at a time, as
 * `mergeMap(…, concurrency)` does in examples/bench.ts (for the clients that
 * are written without RxJS).
 */
export async function runConnections(args: BenchArgs, run: (id: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < args.connections) await run(next++);
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.connections) }, worker));
}

const TAG = 16;

/** Message `seq` of connection `id`: `TEST TEST ...` + hex tag (no tag below 16 bytes). */
export function makeMessages(size: number): (id: number, seq: number) => string {
  const base = 'TEST '.repeat(Math.ceil(size / 5) + 1);
  if (size < TAG) {
    const fixed = base.slice(0, size);
    return () => fixed;
  }
  const prefix = base.slice(0, size - TAG);
  return (id, seq) => prefix + id.toString(16).padStart(8, '0') + seq.toString(16).padStart(8, '0');
}

/**
 * The run's counters and its one JSON line. Arms the `--timeout`: when it
 * fires, the line is printed with the unfinished connections as errors and
 * the process exits 1. `finish()` prints it at the end (exit code 1 if any
 * connection failed).
 */
export class Tally {
  done = 0;
  echoes = 0;
  mismatches = 0;
  errors = 0;
  private readonly start = performance.now();
  private readonly timer: NodeJS.Timeout;

  /** `client`: the fields that name the client (`{ client: 'ws-rx' }`, say), first in the line. */
  constructor(
    private readonly args: BenchArgs,
    private readonly client: Record<string, unknown>,
  ) {
    this.timer = setTimeout(() => {
      this.report(true);
      process.exit(1);
    }, args.timeout * 1000);
  }

  finish(): void {
    clearTimeout(this.timer);
    this.report(false);
    if (this.errors > 0) process.exitCode = 1;
  }

  private report(timedOut: boolean): void {
    const { args } = this;
    const ms = performance.now() - this.start;
    const unfinished = args.connections - this.done - this.errors;
    console.log(
      JSON.stringify({
        ...this.client,
        url: args.url,
        connections: args.connections,
        messages: this.echoes,
        expected_messages: args.connections * args.messages,
        size: args.size,
        concurrency: args.concurrency,
        total_ms: Math.round(ms * 10) / 10,
        msgs_per_s: Math.round(this.echoes / (ms / 1000)),
        errors: this.errors + (timedOut ? unfinished : 0),
        mismatches: this.mismatches,
        ...(timedOut ? { timeout: true } : {}),
      }),
    );
  }
}
