/**
 * `connect`: a cold Observable of one client connection. Each subscription
 * dials anew, emits the `Connection` once open, then completes when it closes
 * normally or errors with a typed error (a `HandshakeError` with the HTTP
 * status if the handshake failed; a `ConnectionClosedError` with the code
 * if the connection ended abnormally). Unsubscribing closes with 1000, so
 * `connect(url).pipe(retry(...))` reconnects by construction.
 */
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { Observable } from './rx';
import { Connection, endingError } from './connection';
import { ConnectionOptions, resolveConnectionOptions } from './options';
import type { SendFrameHook } from './protocol/connection';
import { perMessageDeflate, perMessageDeflateOffers, type PerMessageDeflateOptions } from './protocol/deflate';
import type { ExtensionFactory } from './protocol/extension';
import { dial, parseWebSocketUrl } from './transport/dial';

/** Client settings (`connect(url, options)`). */
export interface ClientOptions extends ConnectionOptions {
  /** Subprotocols to offer, most preferred first. */
  protocols?: string | string[];
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** `Origin` header. */
  origin?: string;
  /** TLS options for `wss:` (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`...), passed to `tls.connect`. */
  tls?: tls.ConnectionOptions;
  /** Extra `net.connect` options (`family`, `localAddress`...). */
  socket?: Partial<net.TcpNetConnectOpts>;
  /**
   * For a ws: URL whose host is an IP address (and no `socket` options),
   * connect on libuv's TCP handle directly instead of a `net.Socket` (as
   * `listen` does; see `lib/transport/handle-socket.ts`). Default `true`
   * where the handle is reachable. `false`: always `net.connect`. Host names
   * and wss: always go through `net`/`tls`.
   */
  directSockets?: boolean;
  /**
   * Offer permessage-deflate (RFC 7692): `true` for the defaults, options,
   * or several option sets to offer as alternatives (most preferred first).
   * Default: off.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions | PerMessageDeflateOptions[];
  /** More extensions to offer (after permessage-deflate), e.g. your own {@link ExtensionFactory}. */
  extensions?: readonly ExtensionFactory[];
  /** Hook on every outgoing frame (see `Connection.onSendFrame`). */
  onSendFrame?: SendFrameHook;
}

/** The extension factories a client or server option set asks for. */
export function extensionFactories(
  deflate: boolean | PerMessageDeflateOptions | PerMessageDeflateOptions[] | undefined,
  extensions: readonly ExtensionFactory[] | undefined,
): ExtensionFactory[] {
  const out: ExtensionFactory[] = [];
  if (Array.isArray(deflate)) out.push(perMessageDeflateOffers(deflate));
  else if (deflate !== undefined && deflate !== false) out.push(perMessageDeflate(deflate));
  if (extensions !== undefined) out.push(...extensions);
  return out;
}

/**
 * Connects to a WebSocket server. Cold: nothing happens until you subscribe,
 * and every subscription is a new connection.
 *
 * ```ts
 * connect('ws://127.0.0.1:8080').subscribe(conn => {
 *   conn.messages$.subscribe(m => console.log(m));
 *   conn.next('hello');
 * });
 * ```
 */
export function connect(url: string | URL, options?: ClientOptions): Observable<Connection> {
  const settings = resolveConnectionOptions(options);
  const protocols = options?.protocols === undefined ? [] : ([] as string[]).concat(options.protocols);
  // Validated now: a bad option throws at the call, not at subscription.
  const factories = extensionFactories(options?.perMessageDeflate, options?.extensions);
  return new Observable<Connection>((subscriber) => {
    const parsed = parseWebSocketUrl(url);
    if (parsed instanceof Error) {
      subscriber.error(parsed);
      return;
    }
    let connection: Connection | null = null;
    const abort = dial(
      parsed,
      {
        protocols,
        headers: options?.headers,
        origin: options?.origin,
        extensions: factories.map((f) => f({ role: 'client', maxPayload: settings.maxPayload })),
        sendHook: options?.onSendFrame ?? null,
        maxPayload: settings.maxPayload,
        highWaterMark: settings.highWaterMark,
        closeTimeout: settings.closeTimeout,
        handshakeTimeout: settings.handshakeTimeout,
        maxHeaderSize: settings.maxHeaderSize,
        tls: options?.tls,
        socket: options?.socket,
        directSockets: options?.directSockets,
      },
      (result) => {
        if (result instanceof Error) {
          subscriber.error(result);
          return;
        }
        const c = new Connection({
          transport: result.transport,
          protocol: result.protocol,
          extensions: result.extensions,
          request: { url: parsed.href, headers: result.response.headers },
        });
        connection = c;
        c.closed.then((info) => {
          const error = endingError(info);
          if (error) subscriber.error(error);
          else subscriber.complete();
        });
        subscriber.next(c);
        result.transport.start();
      },
    );
    return () => {
      if (connection === null) abort();
      else if (connection.closeInfo === null) connection.complete();
    };
  });
}
