/**
 * `closeWith(code, reason, { timeout })`: close negotiation for a stream of
 * connections (RFC 6455 §7.1.2–§7.1.4): when the data piped into a
 * connection completes, send this close, wait up to `timeout` for the peer's
 * close, then drop the transport.
 */
import { MonoTypeOperatorFunction, Observable, SchedulerLike, Subscription } from '../rx';
import type { Connection } from '../connection';
import { CloseCode, isValidCloseCode } from '../protocol/close-codes';
import { UsageError } from '../protocol/errors';
import { checkDuration, closed$, schedulerOf } from './internal';

/** Settings of `closeWith`. */
export interface CloseWithConfig {
  /** Milliseconds to wait for the peer's close frame (and TCP close) before dropping the transport. Default 5000. */
  timeout?: number;
  /** Scheduler for the timer. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * For every connection of the source, makes the end of the data piped into it
 * (its Observer `complete()`, as in `outgoing$.subscribe(conn)`) close with
 * `code` and `reason` instead of 1000, and bounds the closing handshake:
 * if the connection is not over `timeout` ms after the close frame went out,
 * the transport is dropped. `conn.closed` then resolves with `wasClean`
 * telling whether close frames went both ways (§7.1.4).
 *
 * Connections are emitted unchanged otherwise. Unsubscribing restores their
 * `complete()` and cancels pending timers.
 *
 * ```ts
 * connect(url).pipe(closeWith(4000, 'done', { timeout: 1000 })).subscribe(conn => {
 *   from(['a', 'b', 'c']).subscribe(conn); // sends three messages, then closes with 4000
 *   conn.closed.then(info => console.log(info.wasClean ? 'clean' : 'dropped'));
 * });
 * ```
 *
 * @throws UsageError for a code that may not be sent (§7.4) or a reason over 123 bytes.
 */
export function closeWith<T extends Connection>(
  code: number = CloseCode.Normal,
  reason = '',
  config?: CloseWithConfig,
): MonoTypeOperatorFunction<T> {
  if (!isValidCloseCode(code)) throw new UsageError(`close code ${code} may not be sent`, 'WS_ERR_INVALID_CLOSE_CODE');
  if (Buffer.byteLength(reason) > 123) throw new UsageError('close reason over 123 bytes', 'WS_ERR_INVALID_CLOSE_REASON');
  const timeout = config?.timeout ?? 5000;
  checkDuration('closeWith timeout', timeout);
  const scheduler = schedulerOf(config);
  return (source) =>
    new Observable<T>((subscriber) => {
      const all = new Subscription();
      all.add(
        source.subscribe({
          next: (conn) => {
            const watch = negotiate(conn, code, reason, timeout, scheduler);
            all.add(watch);
            watch.add(() => all.remove(watch));
            subscriber.next(conn);
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
      return all;
    });
}

function negotiate(conn: Connection, code: number, reason: string, timeout: number, scheduler: SchedulerLike): Subscription {
  let timer: Subscription | null = null;
  const own = Object.prototype.hasOwnProperty.call(conn, 'complete');
  const previous = conn.complete;
  const complete = (): void => {
    if (conn.closeInfo !== null || !conn.isOpen) return;
    conn.close(code, reason);
    // §7.1.1: the peer answers and the server closes TCP; a peer that does
    // neither in time is dropped.
    timer = scheduler.schedule(() => {
      if (conn.closeInfo === null) conn.terminate();
    }, timeout);
  };
  conn.complete = complete;
  const watch = new Subscription(() => {
    timer?.unsubscribe();
    if (conn.complete === complete) {
      if (own) conn.complete = previous;
      else delete (conn as { complete?: unknown }).complete;
    }
  });
  // Once the connection is over there is nothing left to negotiate.
  watch.add(closed$(conn).subscribe(() => watch.unsubscribe()));
  return watch;
}
