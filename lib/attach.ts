/**
 * WebSockets on an existing node:http / node:https server.
 *
 * - `attach(server, options)`: an Observable of the connections upgraded on
 *   `server` at `options.path`. Subscribing adds an `upgrade` listener;
 *   requests for other paths, and ordinary HTTP requests, are left alone, so
 *   HTTP and WebSocket share a port and several endpoints share a server.
 * - `upgrade(request, socket, head, options)`: the same handshake for a
 *   request someone else routed to us (ws's `noServer` mode, frameworks).
 *
 * Both run the same validation, hook and extension negotiation as `listen`
 * (lib/transport/accept.ts).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { Observable } from './rx';
import { Connection } from './connection';
import { HandshakeError } from './protocol/errors';
import { buildRejection } from './protocol/handshake';
import { acceptOptions, checkEndpointOptions, ConnectionSet, EndpointOptions, ErrorReporter } from './server';
import { acceptRequest } from './transport/accept';

/** Settings of `attach` (and `upgrade`). */
export type AttachOptions = EndpointOptions;

/** What `attach` returns: an Observable of connections, with the errors that belong to none. */
export interface Attachment extends Observable<Connection> {
  /** A handshake hook that threw, and such. Never completes. */
  readonly errors$: Observable<Error>;
}

/** Marks a socket some ws-rx endpoint took, so the unclaimed check leaves it alone. */
const kClaimed = Symbol('ws-rx.claimed');
/** Marks ws-rx's own `upgrade` listeners. */
const kOwn = Symbol('ws-rx.upgrade-listener');
/** Sockets already scheduled for the unclaimed check. */
const kChecking = Symbol('ws-rx.checking');

type Marked = Duplex & { [kClaimed]?: boolean; [kChecking]?: boolean };

/** The path of a request target (origin- or absolute-form), without the query. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f) {
    const scheme = target.indexOf('://');
    if (scheme > 0) {
      const slash = target.indexOf('/', scheme + 3);
      if (slash === -1) return '/';
      start = slash;
    }
  }
  const q = target.indexOf('?', start);
  return q === -1 ? target.slice(start) : target.slice(start, q) || '/';
}

/**
 * Upgrades requests to `server` whose path is `options.path` (any path if
 * unset). Subscribing starts listening for upgrades; unsubscribing stops it
 * and closes this endpoint's open connections with 1001. The server itself
 * is neither started nor closed.
 *
 * An upgrade request that no ws-rx endpoint takes, on a server with no other
 * `upgrade` listener, is answered 404 (otherwise nobody would answer it).
 *
 * ```ts
 * const server = http.createServer(app);
 * attach(server, { path: '/chat' }).subscribe(conn => conn.messages$.subscribe(conn));
 * server.listen(8080);
 * ```
 */
export function attach(server: HttpServer | HttpsServer, options: AttachOptions = {}): Attachment {
  const conn = checkEndpointOptions(options);
  const reporter = new ErrorReporter(options.onError);
  const shutdownTimeout = options.shutdownTimeout ?? 5000;
  const observable = new Observable<Connection>((subscriber) => {
    const set = new ConnectionSet(shutdownTimeout);
    const accept = acceptOptions(options, conn, set, reporter);
    const handshaking = new Set<Duplex>();
    let stopped = false;
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      const marked = socket as Marked;
      if (marked[kClaimed]) return;
      if (options.path !== undefined && pathOf(request.url) !== options.path) {
        scheduleUnclaimedCheck(server, marked);
        return;
      }
      marked[kClaimed] = true;
      handshaking.add(socket);
      acceptRequest(request, socket, head, accept, (accepted) => {
        handshaking.delete(socket);
        set.emit(accepted, subscriber, stopped);
      });
    };
    (onUpgrade as unknown as Record<symbol, boolean>)[kOwn] = true;
    server.on('upgrade', onUpgrade);
    return () => {
      stopped = true;
      server.removeListener('upgrade', onUpgrade);
      for (const socket of handshaking) socket.destroy();
      handshaking.clear();
      set.shutdown();
    };
  });
  return Object.assign(observable, { errors$: reporter.subject.asObservable() }) as Attachment;
}

/**
 * After every `upgrade` listener has run: if none took the socket and all the
 * listeners are ws-rx's, answer 404 rather than leave the client hanging.
 */
function scheduleUnclaimedCheck(server: HttpServer | HttpsServer, socket: Marked): void {
  if (socket[kChecking]) return;
  socket[kChecking] = true;
  setImmediate(() => {
    if (socket[kClaimed] || socket.destroyed) return;
    const listeners = server.listeners('upgrade');
    if (!listeners.every((l) => (l as unknown as Record<symbol, boolean>)[kOwn] === true)) return;
    socket.on('error', noop);
    socket.end(buildRejection(404, 'No WebSocket endpoint at this path.'));
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

/**
 * Performs the handshake for an upgrade request you routed yourself (ws's
 * `noServer` mode: Fastify, custom routers). Cold: the handshake starts on
 * subscribe. Emits the `Connection` once open and completes (the connection
 * then lives on its own); errors with a `HandshakeError` carrying the HTTP
 * status when the request is refused (the client has been answered).
 * Unsubscribing before it opens drops the socket.
 *
 * ```ts
 * server.on('upgrade', (req, socket, head) => {
 *   if (req.url === '/ws') upgrade(req, socket, head).subscribe(conn => conn.messages$.subscribe(conn));
 * });
 * ```
 */
export function upgrade(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: AttachOptions = {},
): Observable<Connection> {
  const conn = checkEndpointOptions(options);
  return new Observable<Connection>((subscriber) => {
    const marked = socket as Marked;
    marked[kClaimed] = true;
    const set = new ConnectionSet(options.shutdownTimeout ?? 5000);
    const reporter = new ErrorReporter(options.onError);
    let settled = false;
    const accept = acceptOptions({ ...options, path: undefined }, conn, set, reporter);
    acceptRequest(request, socket, head, accept, (accepted, reason, status) => {
      settled = true;
      if (accepted === null) {
        subscriber.error(new HandshakeError(`upgrade refused: ${reason ?? 'handshake failed'}`, status ?? 0, 'WS_ERR_HANDSHAKE_REFUSED'));
        return;
      }
      const connection = set.create(accepted);
      subscriber.next(connection);
      accepted.transport.start();
      subscriber.complete();
    });
    return () => {
      if (!settled) socket.destroy();
    };
  });
}

function noop(): void {}
