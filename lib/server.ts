/**
 * `listen`: a server as an Observable of connections. Subscribing listens;
 * every accepted connection is emitted once open; unsubscribing stops
 * accepting, closes open connections with 1001 and waits a bounded time for
 * them to finish.
 */
import * as net from 'node:net';
import { Observable, ReplaySubject } from 'rxjs';
import { Connection } from './connection';
import type { ClientHandshakeRequest } from './protocol/handshake';
import { ConnectionOptions, resolveConnectionOptions } from './options';
import { acceptStream } from './transport/accept';

/** Server settings (`listen(address, options)`). */
export interface ServerOptions extends ConnectionOptions {
  /** Interface to bind. Default: every interface (`::` or `0.0.0.0`), as `net` does. */
  host?: string;
  /** Port; 0 picks a free one (learn it from `address$` or `onListening`). */
  port?: number;
  /** Only upgrade requests for this path (query ignored); others get 404. Default: any path. */
  path?: string;
  /** At most this many open connections; further handshakes get 503. Default: no limit. */
  maxConnections?: number;
  /** Subprotocols the server speaks, or a function choosing one of the client's offers. */
  protocols?: readonly string[] | ((offered: string[], request: ClientHandshakeRequest) => string | undefined);
  /** Milliseconds to wait for open connections to close after unsubscribing. Default 5 s. */
  shutdownTimeout?: number;
  /** TCP listen backlog. Default 1024. */
  backlog?: number;
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
 * Listens for WebSocket connections. `address` is a port, `'host:port'`, or
 * an options object; `options` adds to (and overrides) it.
 *
 * ```ts
 * listen(8080).subscribe(conn => conn.messages$.subscribe(conn)); // echo
 * ```
 */
export function listen(address: ListenAddress, options?: ServerOptions): Listener {
  const opts: ServerOptions = { ...parseListenAddress(address), ...options };
  const conn = resolveConnectionOptions(opts);
  const shutdownTimeout = opts.shutdownTimeout ?? 5000;
  const maxConnections = opts.maxConnections ?? Infinity;
  const address$ = new ReplaySubject<net.AddressInfo>(1);

  const observable = new Observable<Connection>((subscriber) => {
    const open = new Set<Connection>();
    const handshaking = new Set<net.Socket>();
    let stopped = false;
    const server = net.createServer({ noDelay: true });

    server.on('connection', (socket: net.Socket) => {
      if (stopped) {
        socket.destroy();
        return;
      }
      handshaking.add(socket);
      acceptStream(
        socket,
        {
          path: opts.path,
          maxPayload: conn.maxPayload,
          highWaterMark: conn.highWaterMark,
          closeTimeout: conn.closeTimeout,
          handshakeTimeout: conn.handshakeTimeout,
          maxHeaderSize: conn.maxHeaderSize,
          protocols: opts.protocols,
          decide: () =>
            open.size >= maxConnections
              ? { reject: { status: 503, reason: 'too many connections', headers: { 'Retry-After': '1' } } }
              : null,
        },
        (accepted) => {
          handshaking.delete(socket);
          if (accepted === null) return;
          const { transport, request } = accepted;
          const connection = new Connection({
            transport,
            protocol: accepted.protocol,
            extensions: [],
            request: {
              url: accepted.head.target,
              headers: request.headers,
              remoteAddress: socket.remoteAddress,
              remotePort: socket.remotePort,
            },
          });
          open.add(connection);
          connection.closed.then(() => open.delete(connection));
          subscriber.next(connection);
          transport.start();
        },
      );
    });

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
      if (open.size === 0) return;
      // Going away (RFC 6455 §7.4.1: 1001), then a bounded wait.
      for (const c of open) {
        try {
          c.close(1001, 'server shutting down');
        } catch {
          // already closing
        }
      }
      const timer = setTimeout(() => {
        for (const c of open) c.terminate();
      }, shutdownTimeout);
      timer.unref();
      Promise.all([...open].map((c) => c.closed)).then(() => clearTimeout(timer));
    };
  });
  return Object.assign(observable, { address$: address$.asObservable() }) as Listener;
}
