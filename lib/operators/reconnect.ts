/**
 * `reconnect(config)`: `connect(url).pipe(reconnect(...))` resubscribes to
 * the source (a new connection) after every unexpected close or failed
 * attempt, with exponential backoff and jitter; shaped like rxjs
 * `operators/retry.ts`, with python-websockets' `connect` reconnection loop
 * (backoff reset after a stable connection) in mind.
 */
import { MonoTypeOperatorFunction, Observable, SchedulerLike, Subscription } from '../rx';
import type { Connection } from '../connection';
import { CloseCode } from '../protocol/close-codes';
import { HandshakeError } from '../protocol/errors';
import { ReconnectExhaustedError } from './errors';
import { checkDuration, schedulerOf } from './internal';

/** What `onRetry` is told before each new attempt. */
export interface RetryInfo {
  /** 1 for the first retry after a failure, 2 for the next... (reset after a stable connection). */
  attempt: number;
  /** Milliseconds until the attempt. */
  delay: number;
  /** Why: the error, or null when the server went away cleanly (1001). */
  error: unknown;
}

/** Settings of `reconnect`. */
export interface ReconnectConfig {
  /** Delay before the first retry, in ms. Default 500. */
  initialDelay?: number;
  /** Upper bound of the delay, in ms. Default 30 000. */
  maxDelay?: number;
  /** Growth factor of the delay per attempt. Default 2. */
  factor?: number;
  /**
   * Jitter, 0 to 1: each delay is drawn uniformly from `[d * (1 - jitter), d]`
   * so that clients dropped together do not come back together. Default 0.5.
   */
  jitter?: number;
  /** Consecutive failed attempts before giving up (then errors with `ReconnectExhaustedError`). Default Infinity. */
  maxRetries?: number;
  /** A connection that stayed open this long (ms) resets the backoff to `initialDelay`. Default 10 000. */
  resetAfter?: number;
  /**
   * Whether to retry after `error`. Default: everything except a handshake the
   * server refused with a 4xx status (other than 408 and 429): retrying
   * cannot fix a wrong path or credentials.
   */
  shouldRetry?: (error: unknown) => boolean;
  /** Called before each retry (for logging or state reporting). */
  onRetry?: (info: RetryInfo) => void;
  /** Random source for the jitter, returning [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Scheduler for the delays. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** The default `shouldRetry`: not for handshakes refused with a 4xx other than 408/429. */
export function defaultShouldRetry(error: unknown): boolean {
  if (error instanceof HandshakeError) {
    const s = error.status;
    return !(s >= 400 && s < 500) || s === 408 || s === 429;
  }
  return true;
}

/**
 * The delay before retry number `attempt` (1-based), before jitter:
 * `min(maxDelay, initialDelay * factor ** (attempt - 1))`.
 */
export function backoffDelay(attempt: number, config?: Pick<ReconnectConfig, 'initialDelay' | 'maxDelay' | 'factor'>): number {
  const initial = config?.initialDelay ?? 500;
  const max = config?.maxDelay ?? 30_000;
  const factor = config?.factor ?? 2;
  return Math.min(max, initial * factor ** (attempt - 1));
}

/**
 * Keeps a client connected. Every connection the source emits is passed on;
 * when it ends other than cleanly, or an attempt fails, the source is
 * subscribed again after a backoff delay, and the next connection is
 * emitted. Ends:
 * - completes when a connection closes normally (1000, 1005): a clean close
 *   asked for by either side. A server going away (1001, as a server does on
 *   restart) is retried.
 * - errors with the error when `shouldRetry` says no, or with a
 *   `ReconnectExhaustedError` after `maxRetries` failed attempts in a row.
 * - unsubscribing stops everything (the current connection closes with 1000).
 *
 * ```ts
 * connect('ws://127.0.0.1:8080')
 *   .pipe(reconnect({ initialDelay: 100, maxDelay: 5000 }))
 *   .subscribe(conn => conn.messages$.subscribe(m => console.log(m)));
 * ```
 */
export function reconnect<T extends Connection>(config?: ReconnectConfig): MonoTypeOperatorFunction<T> {
  const initialDelay = config?.initialDelay ?? 500;
  const maxDelay = config?.maxDelay ?? 30_000;
  const factor = config?.factor ?? 2;
  const jitter = config?.jitter ?? 0.5;
  const maxRetries = config?.maxRetries ?? Infinity;
  const resetAfter = config?.resetAfter ?? 10_000;
  const shouldRetry = config?.shouldRetry ?? defaultShouldRetry;
  const random = config?.random ?? Math.random;
  const scheduler = schedulerOf(config);
  checkDuration('initialDelay', initialDelay);
  checkDuration('maxDelay', maxDelay, true);
  checkDuration('resetAfter', resetAfter, true);
  checkDuration('maxRetries', maxRetries, true);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`jitter must be between 0 and 1, got ${jitter}`);
  if (!(factor >= 1)) throw new RangeError(`factor must be at least 1, got ${factor}`);
  const bounds = { initialDelay, maxDelay, factor };

  return (source) =>
    new Observable<T>((subscriber) => {
      let attempt = 0;
      let inner: Subscription | null = null;
      let timer: Subscription | null = null;
      let last: T | null = null;
      let openedAt = 0;

      const retryOrEnd = (error: unknown, failed: boolean): void => {
        inner = null;
        if (last !== null && scheduler.now() - openedAt >= resetAfter) attempt = 0;
        last = null;
        if (failed && !shouldRetry(error)) {
          subscriber.error(error);
          return;
        }
        if (attempt >= maxRetries) {
          subscriber.error(new ReconnectExhaustedError(attempt, error));
          return;
        }
        attempt++;
        const base = backoffDelay(attempt, bounds);
        const delay = Math.round(base * (1 - jitter * random()));
        config?.onRetry?.({ attempt, delay, error: failed ? error : null });
        timer = scheduler.schedule(subscribeSource, delay);
      };

      function subscribeSource(): void {
        timer = null;
        if (subscriber.closed) return;
        let done = false;
        const s = source.subscribe({
          next: (conn) => {
            last = conn;
            openedAt = scheduler.now();
            subscriber.next(conn);
          },
          error: (err) => {
            done = true;
            retryOrEnd(err, true);
          },
          complete: () => {
            done = true;
            const info = last?.closeInfo;
            // 1001: the server is going away (restarting); come back when it does.
            if (info && info.code === CloseCode.GoingAway) retryOrEnd(null, false);
            else subscriber.complete();
          },
        });
        // A source that ended synchronously has already scheduled what follows.
        if (!done) inner = s;
      }

      subscribeSource();
      return () => {
        timer?.unsubscribe();
        inner?.unsubscribe();
      };
    });
}
