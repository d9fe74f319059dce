/**
 * `heartbeat({ interval, timeout })`: keepalive pings over a stream of
 * connections, python-websockets `keepalive()` in `asyncio/connection.py`:
 * ping, wait up to `timeout` for the pong, sleep `interval` minus the
 * latency, repeat; no pong in time fails the connection with 1011.
 */
import { MonoTypeOperatorFunction, Observable, ReplaySubject, SchedulerLike, Subscription } from '../rx';
import type { Connection } from '../connection';
import { HeartbeatTimeoutError } from './errors';
import { checkDuration, closed$, schedulerOf } from './internal';

/** Settings of `heartbeat`. */
export interface HeartbeatConfig {
  /** Milliseconds from one ping to the next. The first ping goes `interval` after the connection is emitted. */
  interval: number;
  /** Milliseconds to wait for the pong before failing the connection. Default: `interval`. */
  timeout?: number;
  /** Scheduler for the timers (a `TestScheduler` in tests). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** What `heartbeat` adds to each connection. */
export interface HeartbeatInfo {
  /**
   * Round-trip time of each answered ping, in milliseconds (measured with the
   * scheduler's clock). Replays the latest to new subscribers; completes when
   * the connection closes.
   */
  readonly rtt$: Observable<number>;
}

/** A connection watched by `heartbeat`. */
export type HeartbeatConnection = Connection & HeartbeatInfo;

/**
 * Pings every connection of the source every `interval` ms. When no pong
 * arrives within `timeout` ms of a ping, the connection is failed: a close
 * frame with 1011 if it can still be written, then the transport is dropped
 * at once, and its `messages$` errors with a `HeartbeatTimeoutError`. A peer
 * that goes silent is thus dropped within `interval + timeout`.
 *
 * Each connection is emitted as it came, with an `rtt$` stream added.
 * Unsubscribing stops every heartbeat (the connections stay open). Use it on
 * either side:
 *
 * ```ts
 * listen(8080).pipe(heartbeat({ interval: 20_000, timeout: 10_000 })).subscribe(conn => {
 *   conn.rtt$.subscribe(ms => console.log(`rtt ${ms} ms`));
 *   conn.messages$.subscribe(conn);
 * });
 * ```
 *
 * @param config `interval` in ms, or a config object.
 */
export function heartbeat<T extends Connection>(
  config: number | HeartbeatConfig,
): (source: Observable<T>) => Observable<T & HeartbeatInfo> {
  const c: HeartbeatConfig = typeof config === 'number' ? { interval: config } : config;
  const interval = c.interval;
  const timeout = c.timeout ?? interval;
  checkDuration('heartbeat interval', interval);
  checkDuration('heartbeat timeout', timeout);
  const scheduler = schedulerOf(c);
  return (source) =>
    new Observable<T & HeartbeatInfo>((subscriber) => {
      const all = new Subscription();
      all.add(
        source.subscribe({
          next: (conn) => {
            const rtt$ = new ReplaySubject<number>(1);
            const watch = keepalive(conn, rtt$, interval, timeout, scheduler);
            all.add(watch);
            watch.add(() => {
              all.remove(watch);
              rtt$.complete();
            });
            Object.defineProperty(conn, 'rtt$', { value: rtt$.asObservable(), configurable: true, enumerable: false });
            subscriber.next(conn as T & HeartbeatInfo);
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
      return all;
    });
}

/** One connection's keepalive loop; unsubscribing the result ends it. */
function keepalive(
  conn: Connection,
  rtt$: ReplaySubject<number>,
  interval: number,
  timeout: number,
  scheduler: SchedulerLike,
): Subscription {
  // One timer of each kind at a time, held by reference (not added to
  // `watch` one by one, which would grow for as long as the connection lives).
  let pingTimer: Subscription | null = null;
  let pongTimer: Subscription | null = null;
  let pong: Subscription | null = null;
  const watch = new Subscription(() => {
    pingTimer?.unsubscribe();
    pongTimer?.unsubscribe();
    pong?.unsubscribe();
  });

  const schedulePing = (delay: number): void => {
    pingTimer = scheduler.schedule(sendPing, Math.max(0, delay));
  };

  function sendPing(): void {
    if (watch.closed) return;
    const sentAt = scheduler.now();
    let answered = false;
    pong?.unsubscribe();
    pong = conn.ping().subscribe({
      next: () => {
        answered = true;
        pongTimer?.unsubscribe();
        pongTimer = null;
        const latency = scheduler.now() - sentAt;
        rtt$.next(latency);
        // keepalive(): sleep(ping_interval - latency), so pings stay `interval` apart.
        if (!watch.closed) schedulePing(interval - latency);
      },
      // NotDeliveredError: the connection is closing; closed$ ends the loop.
      error: () => {},
    });
    if (answered || watch.closed) return;
    pongTimer = scheduler.schedule(() => {
      if (watch.closed || answered) return;
      // RFC 6455 §7.4.1: 1011, the peer failed to fulfil the keepalive.
      conn.fail(new HeartbeatTimeoutError(timeout));
    }, timeout);
  }

  watch.add(closed$(conn).subscribe(() => watch.unsubscribe()));
  if (!watch.closed) schedulePing(interval);
  return watch;
}
