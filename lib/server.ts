/**
 * `listen`: a server as an Observable of connections. Subscribing listens;
 * every accepted connection is emitted once open; unsubscribing stops
 * accepting, closes open connections with 1001 and waits a bounded time for
 * them to finish.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Observable, ReplaySubject, Subject, Subscriber } from './rx';
import { extensionFactories } from './client';
import { Connection } from './connection';
import type { ClientHandshakeRequest } from './protocol/handshake';
import type { SendFrameHook } from './protocol/connection';
import type { PerMessageDeflateOptions } from './protocol/deflate';
import type { ExtensionFactory } from './protocol/extension';
import { checkOption, ConnectionOptions, resolveConnectionOptions, TIMER_MAX } from './options';
import { Accepted, AcceptOptions, acceptStream, HandshakeHook } from './transport/accept';
import { acceptHandles, HandleSocket } from './transport/handle-socket';

/** Settings shared by `listen`, `attach` and `upgrade`. */
export interface EndpointOptions extends ConnectionOptions {
  /** Only upgrade requests for this path (query ignored). Default: any path. */
  path?: string;
  /** At most this many open connections; further handshakes get 503. Default: no limit. */
  maxConnections?: number;
  /** Subprotocols the server speaks, or a function choosing one of the client's offers. */
  protocols?: readonly string[] | ((offered: string[], request: ClientHandshakeRequest) => string | undefined);
  /**
   * Accept permessage-deflate (RFC 7692) when a client offers it: `true` for
   * the defaults, or options. Default: off.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** More extensions to accept (after permessage-deflate), e.g. your own {@link ExtensionFactory}. */
  extensions?: readonly ExtensionFactory[];
  /**
   * Called for every valid upgrade request (sync or async): accept it (and
   * choose a subprotocol, attach `conn.data`, add response headers) or
   * reject it with an HTTP status. A hook that throws rejects with 500 and is
   * reported on `errors$` / `onError`.
   */
  handshake?: HandshakeHook;
  /** Called with errors that do not belong to a connection (a failing handshake hook, a TLS client error). */
  onError?: (error: Error) => void;
  /** Hook on every outgoing frame of every connection (see `Connection.onSendFrame`). */
  onSendFrame?: SendFrameHook;
  /** Milliseconds to wait for open connections to close after unsubscribing. Default 5 s. */
  shutdownTimeout?: number;
}

/** Server settings (`listen(address, options)`). */
export interface ServerOptions extends EndpointOptions {
  /** Interface to bind. Default: every interface (`::` or `0.0.0.0`), as `net` does. */
  host?: string;
  /** Port; 0 picks a free one (learn it from `address$` or `onListening`). */
  port?: number;
  /**
   * Serve wss: with these `tls.createServer` options (`key`, `cert`, `ca`,
   * `SNICallback`, `minVersion`...). Default: plain ws.
   */
  tls?: tls.TlsOptions;
  /** TCP listen backlog. Default 1024. */
  backlog?: number;
  /**
   * Run plain-TCP (ws:) connections on libuv's TCP handle directly instead of
   * building a `net.Socket` for each (see `lib/transport/handle-socket.ts`):
   * on many short connections Node's stream layer costs more than the
   * WebSocket protocol. Default `true` where the handle is reachable (it is
   * not under `--pending-deprecation`: `net.Socket` then, without a
   * warning). `false`: always `net.Socket`. wss: always uses `tls`.
   */
  directSockets?: boolean;
  /** Called with the bound address as soon as the server listens. */
  onListening?: (address: net.AddressInfo) => void;
}

/** What `listen` returns: an Observable of connections that also tells where it listens. */
export interface Listener extends Observable<Connection> {
  /**
   * The bound address of each subscription, as soon as it listens (a replayed
   * stream): with port 0, read the chosen port here before any client connects.
   */
  readonly address$: Observable<net.AddressInfo>;
  /** Errors that belong to no connection: a handshake hook that threw, a TLS client error. Never completes. */
  readonly errors$: Observable<Error>;
}

/** Where to listen: a port, `'host:port'`, or an options object. */
export type ListenAddress = number | string | ServerOptions;

/** Parses `listen`'s address forms. */
export function parseListenAddress(address: ListenAddress): ServerOptions {
  if (typeof address === 'number') return { port: address };
  if (typeof address === 'string') {
    const i = address.lastIndexOf(':');
    if (i < 0) return { port: Number(address) };
    let host = address.slice(0, i);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return { host: host || undefined, port: Number(address.slice(i + 1)) };
  }
  return address;
}

/**
 * Reports errors that belong to no connection: to `onError`, to `errors$`
 * subscribers, and, when nobody listens at all, as a process warning (never
 * silently, never as a crash).
 * @internal
 */
export class ErrorReporter {
  readonly subject = new Subject<Error>();
  constructor(private readonly onError: ((error: Error) => void) | undefined) {}
  report = (error: Error, warn = true): void => {
    let handled = false;
    if (this.onError !== undefined) {
      handled = true;
      try {
        this.onError(error);
      } catch {
        // A failing reporter must not take the server down.
      }
    }
    if (this.subject.observed) {
      handled = true;
      this.subject.next(error);
    }
    if (!handled && warn) process.emitWarning(`ws-rx: ${error.message}`, { code: 'WS_RX_SERVER_ERROR' });
  };
}

/**
 * The connections of one `listen`/`attach` subscription: turns accepted
 * handshakes into `Connection`s and shuts them down on unsubscribe.
 * @internal
 */
export class ConnectionSet {
  readonly open = new Set<Connection>();
  constructor(private readonly shutdownTimeout: number) {}

  /** Makes the Connection for a completed handshake (the caller emits it, then starts the transport). */
  create(accepted: Accepted): Connection {
    const { transport, request } = accepted;
    const connection = new Connection({
      transport,
      protocol: accepted.protocol,
      extensions: accepted.extensions,
      request: {
        url: accepted.head.target,
        headers: request.headers,
        remoteAddress: accepted.remoteAddress,
        remotePort: accepted.remotePort,
      },
      data: accepted.data,
      // It leaves the set when it closes: no promise or closure per connection.
      openSet: this.open,
    });
    this.open.add(connection);
    return connection;
  }

  /**
   * Emits a completed handshake's Connection, then starts its transport (so
   * the subscriber can subscribe to `messages$` before any input is parsed).
   * A handshake that completed after unsubscribing is dropped.
   */
  emit(accepted: Accepted | null, subscriber: Subscriber<Connection>, stopped: boolean): void {
    if (accepted === null) return;
    if (stopped) {
      accepted.transport.destroy();
      return;
    }
    subscriber.next(this.create(accepted));
    accepted.transport.start();
  }

  /** Going away (RFC 6455 §7.4.1: 1001), then a bounded wait before terminating. */
  shutdown(): void {
    const open = this.open;
    if (open.size === 0) return;
    for (const c of open) {
      try {
        c.close(1001, 'server shutting down');
      } catch {
        // already closing
      }
    }
    const timer = setTimeout(() => {
      for (const c of open) c.terminate();
    }, this.shutdownTimeout);
    timer.unref();
    Promise.all([...open].map((c) => c.closed)).then(() => clearTimeout(timer));
  }
}

/**
 * Checks an endpoint's options where it is created (`listen`, `attach`,
 * `upgrade`): a bad value throws a RangeError at that call. Returns the
 * connection settings. @internal
 */
export function checkEndpointOptions(opts: EndpointOptions): Required<ConnectionOptions> {
  const conn = resolveConnectionOptions(opts);
  if (opts.shutdownTimeout !== undefined) checkOption('shutdownTimeout', opts.shutdownTimeout, 0, TIMER_MAX);
  if (opts.maxConnections !== undefined) checkOption('maxConnections', opts.maxConnections, 0, Infinity);
  return conn;
}

/** The accept settings for a set of endpoint options (`conn`: their checked connection settings). @internal */
export function acceptOptions(
  opts: EndpointOptions,
  conn: Required<ConnectionOptions>,
  set: ConnectionSet,
  reporter: ErrorReporter,
): AcceptOptions {
  const maxConnections = opts.maxConnections ?? Infinity;
  return {
    path: opts.path,
    maxPayload: conn.maxPayload,
    highWaterMark: conn.highWaterMark,
    closeTimeout: conn.closeTimeout,
    handshakeTimeout: conn.handshakeTimeout,
    maxHeaderSize: conn.maxHeaderSize,
    protocols: opts.protocols,
    extensions: extensionFactories(opts.perMessageDeflate, opts.extensions),
    handshake: opts.handshake,
    sendHook: opts.onSendFrame ?? null,
    onError: (error) => reporter.report(error),
    decide: () =>
      set.open.size >= maxConnections
        ? { reject: { status: 503, reason: 'too many connections', headers: { 'Retry-After': '1' } } }
        : null,
  };
}

/**
 * Listens for WebSocket connections. `address` is a port, `'host:port'`, or
 * an options object; `options` adds to (and overrides) it. With `tls`, it
 * serves wss:.
 *
 * ```ts
 * listen(8080).subscribe(conn => conn.messages$.subscribe(conn)); // echo
 * ```
 */
export function listen(address: ListenAddress, options?: ServerOptions): Listener {
  const opts: ServerOptions = { ...parseListenAddress(address), ...options };
  const conn = checkEndpointOptions(opts);
  const shutdownTimeout = opts.shutdownTimeout ?? 5000;
  const address$ = new ReplaySubject<net.AddressInfo>(1);
  const reporter = new ErrorReporter(opts.onError);
  // Validate extension options now: a bad option throws at the call.
  extensionFactories(opts.perMessageDeflate, opts.extensions);

  const observable = new Observable<Connection>((subscriber) => {
    const set = new ConnectionSet(shutdownTimeout);
    const handshaking = new Set<net.Socket | HandleSocket>();
    let stopped = false;
    const accept = acceptOptions(opts, conn, set, reporter);
    let server: net.Server;
    if (opts.tls !== undefined) {
      server = tls.createServer({
        handshakeTimeout: conn.handshakeTimeout,
        ALPNProtocols: ['http/1.1'],
        ...opts.tls,
      });
      // A client that fails TLS (bad hello, wrong certificate) is not a
      // server error: report it where asked, never as a warning.
      server.on('tlsClientError', (error: Error) => reporter.report(error, false));
    } else {
      server = net.createServer();
      // Before listen's own callback: the loop has not accepted anything yet.
      if (opts.directSockets !== false) server.once('listening', () => acceptHandles(server, onSocket));
    }

    const onSocket = (socket: net.Socket | HandleSocket): void => {
      if (stopped) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true); // both net and tls sockets: small frames go out at once
      handshaking.add(socket);
      acceptStream(socket, accept, (accepted) => {
        handshaking.delete(socket);
        set.emit(accepted, subscriber, stopped);
      });
    };
    server.on(opts.tls !== undefined ? 'secureConnection' : 'connection', onSocket);

    server.on('error', (err) => {
      if (!stopped) subscriber.error(err);
    });

    server.listen({ host: opts.host, port: opts.port ?? 0, backlog: opts.backlog ?? 1024 }, () => {
      const info = server.address() as net.AddressInfo;
      address$.next(info);
      opts.onListening?.(info);
    });

    return () => {
      stopped = true;
      server.close();
      for (const socket of handshaking) socket.destroy();
      handshaking.clear();
      set.shutdown();
    };
  });
  return Object.assign(observable, {
    address$: address$.asObservable(),
    errors$: reporter.subject.asObservable(),
  }) as Listener;
}
