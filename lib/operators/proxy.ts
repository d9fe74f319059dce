/**
 * `proxy(target)`: `listen(a).pipe(proxy('ws://upstream'))`, subscribed, is a
 * running WebSocket proxy. Each incoming connection gets its own upstream
 * connection; messages flow both ways unchanged (text stays text), close
 * codes and reasons cross over, and backpressure holds end to end.
 */
import { Observable, OperatorFunction, Subscription } from '../rx';
import { connect, ClientOptions } from '../client';
import type { CloseInfo, Connection } from '../connection';
import { CloseCode, isValidCloseCode } from '../protocol/close-codes';
import { closed$ } from './internal';

/** Settings of `proxy`. */
export interface ProxyConfig {
  /** Options of the upstream connections (headers, TLS, limits...). */
  client?: ClientOptions;
  /** Offer the subprotocol the downstream connection agreed on to the upstream. Default false. */
  forwardProtocol?: boolean;
  /** How to open an upstream connection. Default `connect`. */
  connect?: (url: string | URL, options?: ClientOptions) => Observable<Connection>;
}

/** A downstream connection and its upstream, emitted once both are open. */
export interface ProxySession {
  /** The connection from the client (accepted by the source, `listen`). */
  downstream: Connection;
  /** The proxy's connection to the target. */
  upstream: Connection;
}

/**
 * For every connection of the source, opens one to `target` (a URL, or a
 * function of the incoming connection, e.g. to keep its path) and joins the
 * two:
 * - messages go both ways as they came: text as text, binary as binary.
 *   Messages from the client that arrive before the upstream is open wait
 *   (reading pauses past 64 KiB).
 * - a close code and reason from either side reach the other; a client that
 *   drops without a close makes the upstream close with 1001. An upstream
 *   that fails closes the client with 1011, or 1014 (Bad Gateway) if its
 *   handshake failed.
 * - backpressure: when one side's write buffer is over its high-water mark
 *   (`congested`), reading from the other side pauses until it drains, so
 *   a slow reader on either end costs bounded memory.
 *
 * Emits a `ProxySession` per joined pair. Unsubscribing closes both ends of
 * every session: the upstream with 1000, the client with 1001 (going away).
 *
 * ```ts
 * listen({ host: '127.0.0.1', port: 8081 }).pipe(proxy('ws://127.0.0.1:8080')).subscribe();
 * ```
 */
export function proxy(
  target: string | URL | ((downstream: Connection) => string | URL),
  config?: ProxyConfig,
): OperatorFunction<Connection, ProxySession> {
  const open = config?.connect ?? connect;
  return (source) =>
    new Observable<ProxySession>((subscriber) => {
      const sessions = new Subscription();
      sessions.add(
        source.subscribe({
          next: (downstream) => {
            const url = typeof target === 'function' ? target(downstream) : target;
            let options = config?.client;
            if (config?.forwardProtocol && downstream.protocol) options = { ...options, protocols: downstream.protocol };
            sessions.add(join(downstream, open(url, options), (session) => subscriber.next(session)));
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
      return sessions;
    });
}

/** Joins one downstream connection with the upstream `upstream$` opens. */
function join(
  downstream: Connection,
  upstream$: Observable<Connection>,
  emit: (session: ProxySession) => void,
): Subscription {
  // Torn down (unsubscribed), the proxy leaves: the client hears 1001, and
  // the upstream connection closes with 1000 as `connect` does.
  const session = new Subscription(() => {
    if (downstream.isOpen) downstream.close(CloseCode.GoingAway, 'proxy going away');
  });
  let upstream: Connection | null = null;
  const dial = new Subscription();

  session.add(
    closed$(downstream).subscribe((info) => {
      if (upstream === null) {
        // Gone before the upstream opened: abort the dial.
        session.unsubscribe();
        return;
      }
      forwardClose(info, upstream, CloseCode.GoingAway, 'client went away');
    }),
  );
  if (session.closed) return session;

  dial.add(
    upstream$.subscribe({
      next: (up) => {
        if (upstream !== null) return;
        upstream = up;
        session.add(
          closed$(up).subscribe((info) => {
            forwardClose(info, downstream, CloseCode.InternalError, 'upstream connection lost');
            session.unsubscribe();
          }),
        );
        if (session.closed) return;
        session.add(pipe(downstream, up));
        session.add(pipe(up, downstream));
        emit({ downstream, upstream: up });
      },
      error: () => {
        if (upstream === null && downstream.isOpen) {
          // The upstream never opened: 1014, the gateway got an invalid response (§7.4.1).
          downstream.close(CloseCode.BadGateway, 'upstream handshake failed');
        }
        // Otherwise closed$(up) has forwarded the close.
      },
    }),
  );
  session.add(dial);
  return session;
}

/** Sends `from`'s messages to `to`, pausing `from` while `to` is congested. */
function pipe(from: Connection, to: Connection): Subscription {
  let paused = false;
  const sub = new Subscription(() => {
    if (paused && from.closeInfo === null) from.resume();
  });
  sub.add(
    from.messages$.subscribe({
      next: (message) => {
        // A string is text and a Buffer binary, so text stays text.
        to.send(message);
        if (!paused && to.congested) {
          paused = true;
          from.pause();
        }
      },
      // The end of the stream is handled by the close forwarding.
      error: () => {},
    }),
  );
  sub.add(
    to.drain$.subscribe(() => {
      if (paused) {
        paused = false;
        from.resume();
      }
    }),
  );
  return sub;
}

/** Closes `to` the way `from` ended: its code and reason, or `failCode` if there were none to pass on. */
function forwardClose(info: CloseInfo, to: Connection, failCode: number, failReason: string): void {
  if (to.closeInfo !== null || !to.isOpen) return;
  if (info.code === CloseCode.NoStatus) to.close(CloseCode.Normal, '');
  else if (isValidCloseCode(info.code)) to.close(info.code, info.reason);
  else to.close(failCode, failReason);
}
