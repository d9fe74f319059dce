/** Marble-test helpers for the operator specs. */
import { expect } from 'chai';
import { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Connection } from '../../lib';
import { endingError } from '../../lib';
import { closed$ } from '../../lib/operators/internal';

/** Errors compare by class, code, close code and message (deep equality on Error objects is identity). */
function normalize(value: unknown): unknown {
  if (value instanceof Error) {
    const e = value as Error & { code?: string; closeCode?: number };
    return { error: e.constructor.name, code: e.code, closeCode: e.closeCode, message: e.message };
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v);
    return out;
  }
  return value;
}

/** A TestScheduler asserting with chai's deep equality. */
export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => {
    expect(normalize(actual)).to.deep.equal(normalize(expected));
  });
}

/** A connection's `CloseInfo` as a one-value stream (virtual-time friendly). */
export function closeInfo$(conn: Connection) {
  return closed$(conn);
}

/**
 * A `connect`-like cold Observable over `open()` (a createPair client, say):
 * emits the connection, completes on a normal close, errors otherwise.
 */
export function connectLike(open: () => Connection | Error): Observable<Connection> {
  return new Observable<Connection>((subscriber) => {
    const conn = open();
    if (conn instanceof Error) {
      subscriber.error(conn);
      return;
    }
    const watch = closed$(conn).subscribe((info) => {
      const error = endingError(info);
      if (error) subscriber.error(error);
      else subscriber.complete();
    });
    subscriber.next(conn);
    return () => {
      watch.unsubscribe();
      if (conn.closeInfo === null) conn.complete();
    };
  });
}
