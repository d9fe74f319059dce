/**
 * Shared plumbing of the interop specs (issue 5, "Real peers nobody here
 * wrote"): child-process peers that speak JSON lines, bounded waits, ws-rx
 * endpoints whose streams are captured from the first moment, payloads, and
 * the rule for a missing peer (fail in CI, skip locally).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import type { Observable, Subscription } from 'rxjs';
import { connect } from '../../lib/client';
import type { ClientOptions } from '../../lib/client';
import type { Connection, Frame } from '../../lib/connection';
import { listen } from '../../lib/server';
import type { ServerOptions } from '../../lib/server';

/** ws-rx's deflate option for `listen` and `connect`. */
export function deflateOption(on: boolean): ServerOptions & ClientOptions {
  return { perMessageDeflate: on };
}

/**
 * Takes the data frames captured so far (a message's frames arrive before
 * the message) and says whether any had RSV1 set (compressed, RFC 7692 §6)
 * and how many payload bytes they carried on the wire.
 */
export function drainWire(frames: Inbox<Frame>): { rsv1: boolean; bytes: number } {
  let rsv1 = false;
  let bytes = 0;
  for (const f of frames.drain()) {
    if (f.opcode > 0x2) continue;
    rsv1 ||= f.rsv1;
    bytes += f.payload.length;
  }
  return { rsv1, bytes };
}

/**
 * A peer program is missing. In CI (`CI` set) that is a failure: `.ci/run`
 * installs the peers, so a missing one means the install step broke. Locally
 * the suite is skipped with a message.
 */
export function peerMissing(ctx: Mocha.Context, what: string, hint: string): never {
  const message = `${what} is not available (${hint})`;
  if (process.env.CI) throw new Error(`${message}; CI must have it: run .ci/install-peers.sh`);
  // eslint-disable-next-line no-console
  console.log(`      skipping: ${message}; run .ci/install-peers.sh as root to enable`);
  ctx.skip();
}

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A FIFO of values pushed by a callback and awaited by a test, each wait
 * bounded. Records completion and error so a test can await the end too.
 */
export class Inbox<T> {
  private readonly items: T[] = [];
  private waiters: (() => void)[] = [];
  ended: { error?: unknown } | null = null;

  push = (item: T): void => {
    this.items.push(item);
    this.wake();
  };

  end = (error?: unknown): void => {
    this.ended = error === undefined ? {} : { error };
    this.wake();
  };

  /** Captures an Observable from now on. */
  static of<T>(source: Observable<T>): Inbox<T> {
    const inbox = new Inbox<T>();
    source.subscribe({ next: inbox.push, error: (e) => inbox.end(e), complete: () => inbox.end() });
    return inbox;
  }

  get size(): number {
    return this.items.length;
  }

  /** Everything queued now. */
  drain(): T[] {
    return this.items.splice(0);
  }

  /** The next item; rejects when the source ended first or after `ms`. */
  async next(ms = 10_000, what = 'the next item'): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.items.length > 0) return this.items.shift()!;
      if (this.ended) {
        throw new Error(`ended before ${what}${this.ended.error ? `: ${String(this.ended.error)}` : ''}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await this.wait(left);
    }
  }

  /** Resolves with how the source ended (error or undefined), bounded by `ms`. */
  async whenEnded(ms = 10_000, what = 'the end'): Promise<{ error?: unknown }> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await this.wait(left);
    }
    return this.ended;
  }

  /** Resolves on the next push or end, or after `ms`. */
  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  private wake(): void {
    for (const w of this.waiters.slice()) w();
  }
}

/** A ws-rx connection with its streams captured from the moment it opened. */
export interface Endpoint {
  conn: Connection;
  messages: Inbox<string | Buffer>;
  pings: Inbox<Buffer>;
  /** Frames as received (RSV1 still set on compressed ones), when asked for. */
  frames: Inbox<Frame> | null;
}

/** What to capture besides messages and pings. */
export interface CaptureOptions {
  /** Also capture `frames$` (turns on frame-level events in the parser). */
  frames?: boolean;
}

/**
 * Captures a connection's streams synchronously, inside the `next` that
 * delivers it: frames that arrive with the handshake response are delivered
 * as soon as the transport starts, before any promise continuation runs.
 */
function capture(conn: Connection, options: CaptureOptions = {}): Endpoint {
  return {
    conn,
    messages: Inbox.of(conn.messages$),
    pings: Inbox.of(conn.pings$),
    frames: options.frames ? Inbox.of(conn.frames$) : null,
  };
}

/** Dials with ws-rx `connect`, keeping the subscription (unsubscribing would close). */
export function dial(
  url: string,
  options: ClientOptions,
  ms = 10_000,
  captureOptions: CaptureOptions = {},
): Promise<Endpoint & { subscription: Subscription }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      let endpoint: Endpoint | null = null;
      const subscription: Subscription = connect(url, options).subscribe({
        next: (conn) => {
          endpoint = capture(conn, captureOptions);
          // `subscription` is assigned by now: `connect` never emits synchronously.
          resolve({ ...endpoint, subscription });
        },
        error: (err) => {
          if (endpoint === null) reject(err);
        },
      });
    }),
    ms,
    `ws-rx to connect to ${url}`,
  );
}

/** A ws-rx server on 127.0.0.1 that echoes every message and queues each connection. */
export interface EchoServer {
  port: number;
  connections: Inbox<Endpoint>;
  stop(): void;
}

/** Starts a ws-rx echo server (`listen`) on a free loopback port. */
export async function startEchoServer(options: ServerOptions = {}, captureOptions: CaptureOptions = {}): Promise<EchoServer> {
  const connections = new Inbox<Endpoint>();
  const listener = listen({ host: '127.0.0.1', port: 0, shutdownTimeout: 1000, ...options });
  const subscription = listener.subscribe({
    next: (conn) => {
      const endpoint = capture(conn, captureOptions);
      conn.messages$.subscribe({ next: (m) => conn.send(m), complete: () => conn.complete(), error: () => undefined });
      connections.push(endpoint);
    },
    error: (err) => connections.end(err),
  });
  const address = await withTimeout(
    new Promise<net.AddressInfo>((resolve) => {
      const s = listener.address$.subscribe((a) => {
        resolve(a);
        queueMicrotask(() => s.unsubscribe());
      });
    }),
    5000,
    'ws-rx listen',
  );
  return { port: address.port, connections, stop: () => subscription.unsubscribe() };
}

/**
 * A child process that prints one JSON object per line on stdout (and may
 * take commands, one JSON object per line, on stdin). Stderr is kept for
 * failure messages.
 */
export class JsonLinePeer {
  readonly process: ChildProcess;
  private readonly lines = new Inbox<Record<string, unknown>>();
  private stderr = '';
  private exited: Promise<void>;

  constructor(command: string, args: string[]) {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process = child;
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.stderr += `[unparsable stdout] ${line.slice(0, 200)}\n`;
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      // Bounded: a chatty peer cannot grow memory without limit.
      if (this.stderr.length < 64 * 1024) this.stderr += text;
    });
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.on('exit', () => resolve());
      child.on('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        resolve();
      });
    });
    this.exited.then(() => this.lines.end(new Error(`peer exited (${child.exitCode ?? child.signalCode}): ${this.stderr}`)));
  }

  /** The next line on stdout, bounded; the error includes the peer's stderr. */
  async nextLine(ms = 10_000, what = 'the peer'): Promise<Record<string, unknown>> {
    try {
      return await this.lines.next(ms, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- peer stderr ---\n${this.stderr}`);
    }
  }

  /** The next line matching `predicate`, skipping (and dropping) others. */
  async nextMatching(
    predicate: (line: Record<string, unknown>) => boolean,
    ms = 10_000,
    what = 'a matching line',
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.nextLine(Math.max(1, deadline - Date.now()), what);
      if (predicate(line)) return line;
    }
  }

  /** Sends a command and returns its reply (replies come in order). */
  async request(command: Record<string, unknown>, ms = 20_000): Promise<Record<string, unknown>> {
    this.process.stdin!.write(JSON.stringify(command) + '\n');
    return this.nextLine(ms, `the reply to ${String(command.op)}`);
  }

  /** Ends the peer: closes stdin, then SIGKILL if it has not exited within `ms`. */
  async stop(ms = 3000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.stdin!.end();
    const timer = setTimeout(() => this.process.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Sizes that hit every payload-length encoding (RFC 6455 §5.2) and a large message. */
export const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024] as const;

/** `size` bytes of valid UTF-8 mixing 1- to 4-byte sequences. */
export function textOfBytes(size: number): string {
  const unit = 'aé€𝄞 '; // 1 + 2 + 3 + 4 + 1 = 11 bytes
  const text = unit.repeat(Math.floor(size / 11)) + 'x'.repeat(size % 11);
  if (Buffer.byteLength(text) !== size) throw new Error('textOfBytes is broken');
  return text;
}

/** `size` pseudo-random bytes (seeded, so a failure reproduces). */
export function bytesOf(size: number, seed = size): Buffer {
  const out = Buffer.allocUnsafe(size);
  let a = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

/** Human-readable size for test titles. */
export function sizeLabel(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${n} B`;
}
