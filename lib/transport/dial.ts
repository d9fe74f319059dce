/**
 * Client side of the opening handshake (RFC 6455 §4.1): open a TCP or TLS
 * stream, send the request, validate the response with the core, and hand
 * back a transport. Used by `connect`.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { SendFrameHook } from '../protocol/connection';
import { HandshakeError } from '../protocol/errors';
import { acceptClient, clientOffers, type Extension } from '../protocol/extension';
import {
  buildClientRequest,
  ExtensionOffer,
  generateKey,
  validateServerResponse,
} from '../protocol/handshake';
import { HttpResponseHead, parseResponseHead } from '../protocol/http';
import { connectHandle } from './handle-socket';
import { ByteStream, handshakeSink, StreamTransport } from './stream-transport';

/** A parsed `ws:` / `wss:` URL. */
export interface WebSocketUrl {
  secure: boolean;
  host: string;
  port: number;
  /** Path and query. */
  path: string;
  /** Host header value. */
  hostHeader: string;
  href: string;
}

/** Parses a WebSocket URL (RFC 6455 §3); returns a HandshakeError for a bad one. */
export function parseWebSocketUrl(url: string | URL): WebSocketUrl | HandshakeError {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return new HandshakeError(`invalid URL: ${String(url)}`, 0, 'WS_ERR_INVALID_URL');
  }
  let secure: boolean;
  if (u.protocol === 'ws:' || u.protocol === 'http:') secure = false;
  else if (u.protocol === 'wss:' || u.protocol === 'https:') secure = true;
  else return new HandshakeError(`unsupported URL scheme ${u.protocol} (use ws: or wss:)`, 0, 'WS_ERR_INVALID_URL');
  // §3: fragment identifiers are meaningless in WebSocket URIs.
  if (u.hash) return new HandshakeError('WebSocket URLs have no fragment', 0, 'WS_ERR_INVALID_URL');
  const defaultPort = secure ? 443 : 80;
  const port = u.port ? Number(u.port) : defaultPort;
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return {
    secure,
    host,
    port,
    path: (u.pathname || '/') + u.search,
    hostHeader: u.port ? u.host : u.host.replace(/:\d+$/, ''),
    href: u.href,
  };
}

/** Settings of `dial`. */
export interface DialOptions {
  protocols: string[];
  headers?: Record<string, string>;
  origin?: string;
  /** Extensions to offer (fresh instances for this connection), most preferred first. */
  extensions?: readonly Extension[];
  /** Hook on outgoing frames. */
  sendHook?: SendFrameHook | null;
  maxPayload: number;
  highWaterMark: number;
  closeTimeout: number;
  handshakeTimeout: number;
  maxHeaderSize: number;
  tls?: tls.ConnectionOptions;
  /** Extra `net.connect` options (family, localAddress...). */
  socket?: Partial<net.TcpNetConnectOpts>;
  /** `false`: a `net.Socket` even where a libuv handle could be used (see `connect`). */
  directSockets?: boolean;
}

/** A completed client handshake. */
export interface Dialed {
  transport: StreamTransport;
  protocol: string;
  extensions: ExtensionOffer[];
  response: HttpResponseHead;
}

/**
 * Opens a connection to `url`. Calls `done` once, with the transport (not
 * started) or an error. Returns a function that aborts a handshake in progress.
 */
export function dial(
  url: WebSocketUrl,
  options: DialOptions,
  done: (result: Dialed | HandshakeError) => void,
): () => void {
  const key = generateKey();
  const instances = options.extensions ?? [];
  const offers = clientOffers(instances);
  let finished = false;
  let buf: Buffer | null = null;
  const stream = openStream(url, options);
  (stream as net.Socket).setNoDelay?.(true);
  const timer = setTimeout(
    () => fail(new HandshakeError(`opening handshake timed out after ${options.handshakeTimeout} ms`, 0, 'WS_ERR_HANDSHAKE_TIMEOUT')),
    options.handshakeTimeout,
  );

  function detach(): boolean {
    if (finished) return false;
    finished = true;
    clearTimeout(timer);
    if (stream.setSink !== undefined) {
      stream.setSink(null);
      return true;
    }
    stream.removeListener(url.secure ? 'secureConnect' : 'connect', onConnect);
    stream.removeListener('data', onData);
    stream.removeListener('error', onError);
    stream.removeListener('close', onClose);
    return true;
  }

  function fail(error: HandshakeError): void {
    if (!detach()) return;
    for (const e of instances) e.dispose();
    stream.on('error', ignore);
    stream.destroy();
    done(error);
  }

  function onConnect(): void {
    stream.write(
      buildClientRequest({
        host: url.hostHeader,
        path: url.path,
        key,
        protocols: options.protocols,
        extensions: offers,
        origin: options.origin,
        headers: options.headers,
      }),
    );
  }

  function onError(err: Error & { code?: string }): void {
    const tlsFailure = url.secure && isTlsError(err);
    const error = new HandshakeError(
      `${tlsFailure ? 'TLS handshake failed' : 'connection failed'}: ${err.message}`,
      0,
      tlsFailure ? 'WS_ERR_TLS' : 'WS_ERR_CONNECT',
    );
    (error as { cause?: unknown }).cause = err;
    fail(error);
  }

  function onClose(): void {
    fail(new HandshakeError('the server closed the connection during the opening handshake', 0, 'WS_ERR_HANDSHAKE_CLOSED'));
  }

  function onData(chunk: Buffer): void {
    const prev = buf === null ? 0 : buf.length;
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const result = parseResponseHead(buf, options.maxHeaderSize, prev > 3 ? prev - 3 : 0);
    if (result.kind === 'incomplete') return;
    if (result.kind === 'error') return fail(new HandshakeError(result.error.message, 0, 'WS_ERR_HANDSHAKE_RESPONSE'));
    const validation = validateServerResponse(result.head, {
      key,
      protocols: options.protocols,
      extensions: offers.map((e) => e.name),
    });
    if (!validation.ok) return fail(validation.error);
    // RFC 6455 §4.1 item 5, RFC 7692 §5: each accepted extension checks its parameters.
    const active = acceptClient(instances, validation.extensions, result.head.status);
    if (active instanceof HandshakeError) {
      (active as { headers: Record<string, string> }).headers = result.head.headers;
      return fail(active);
    }
    detach();
    stream.pause();
    const rest = buf.length > result.bodyOffset ? buf.subarray(result.bodyOffset) : null;
    const transport = new StreamTransport(
      stream,
      {
        role: 'client',
        maxPayload: options.maxPayload,
        highWaterMark: options.highWaterMark,
        closeTimeout: options.closeTimeout,
        extensions: active,
        sendHook: options.sendHook,
      },
      rest,
    );
    done({ transport, protocol: validation.protocol, extensions: validation.extensions, response: result.head });
  }

  if (stream.setSink !== undefined) {
    // A HandleSocket: input by direct calls, as the transport will take it
    // (no listeners, so the socket never makes its `_events`). It holds
    // writes until its TCP connect completes, so the request is queued now.
    stream.setSink(handshakeSink(onData, onClose, onError));
    onConnect();
  } else {
    stream.on(url.secure ? 'secureConnect' : 'connect', onConnect);
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('close', onClose);
  }
  return () => {
    if (detach()) {
      for (const e of instances) e.dispose();
      stream.on('error', ignore);
      stream.destroy();
    }
  };
}

/** A TLS socket, a libuv handle (an IP literal, no socket options), or a net.Socket. */
function openStream(url: WebSocketUrl, options: DialOptions): ByteStream {
  if (url.secure) {
    return tls.connect({
      host: url.host,
      port: url.port,
      servername: net.isIP(url.host) ? undefined : url.host,
      ALPNProtocols: ['http/1.1'],
      ...options.socket,
      ...options.tls,
    });
  }
  const direct = options.socket === undefined && options.directSockets !== false ? connectHandle(url.host, url.port) : null;
  return direct ?? net.connect({ host: url.host, port: url.port, ...options.socket });
}

function isTlsError(err: { code?: string }): boolean {
  const code = err.code ?? '';
  return /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code);
}

function ignore(): void {}
