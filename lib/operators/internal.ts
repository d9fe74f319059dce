/**
 * Helpers shared by the operators (not exported from the package).
 */
import { Observable, SchedulerLike, asyncScheduler } from '../rx';
import type { CloseInfo, Connection } from '../connection';

/**
 * Emits the connection's `CloseInfo` once it is over, synchronously with the
 * end of its streams, then completes. Unlike `closed` (a Promise) it runs in
 * virtual time, and unlike `messages$` it does not take the messages that
 * arrived before the user subscribed. `drain$` completes exactly when the
 * connection closes.
 */
export function closed$(conn: Connection): Observable<CloseInfo> {
  return new Observable<CloseInfo>((subscriber) => {
    if (conn.closeInfo !== null) {
      subscriber.next(conn.closeInfo);
      subscriber.complete();
      return;
    }
    return conn.drain$.subscribe({
      complete: () => {
        subscriber.next(conn.closeInfo!);
        subscriber.complete();
      },
    });
  });
}

/** `asyncScheduler` unless one is given. */
export function schedulerOf(config: { scheduler?: SchedulerLike } | undefined): SchedulerLike {
  return config?.scheduler ?? asyncScheduler;
}

/** Throws a RangeError for a value that is not a non-negative finite number (or Infinity when allowed). */
export function checkDuration(name: string, value: number, allowInfinity = false): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw new RangeError(`${name} must be a non-negative number, got ${String(value)}`);
  }
}
