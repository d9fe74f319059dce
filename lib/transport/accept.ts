/**
 * Server side of the opening handshake (RFC 6455 §4.2), shared by every way a
 * request reaches us:
 *
 * - `acceptStream`: a raw stream (`listen`'s HandleSockets, or its TLS or
 *   `net` sockets): read the HTTP head with the core's parser first;
 * - `acceptRequest`: a request node:http already parsed (`attach`,
 *   `upgrade`): its `IncomingMessage` is turned into the same head
 *   (`headFromIncomingMessage`, from `rawHeaders` so repeated headers mean
 *   the same thing to both paths).
 *
 * Both then run one path: validate the head with the core, apply the
 * server's gate (`decide`), run the user's `handshake` hook (sync or async),
 * choose the subprotocol, negotiate extensions, and answer 101 or an HTTP
 * error. A hook that throws answers 500 and is reported through `onError`,
 * never thrown into the server.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { SendFrameHook } from '../protocol/connection';
import { negotiateServer, type ExtensionFactory } from '../protocol/extension';
import {
  acceptKey,
  buildRejection,
  buildServerResponse,
  ClientHandshakeRequest,
  ExtensionOffer,
  selectProtocol,
  validateClientRequest,
} from '../protocol/handshake';
import { createRecord, HttpRequestHead, parseRequestHead } from '../protocol/http';
import { emptyList } from '../protocol/lists';
import { ByteStream, handshakeSink, StreamTransport } from './stream-transport';

/** What the server decides for a valid upgrade request (the built-in gate: maxConnections). */
export interface AcceptDecision {
  /** Refuse with this HTTP status (and reason, headers) instead of upgrading. */
  reject?: { status: number; reason: string; headers?: Record<string, string> };
  protocol?: string;
  headers?: Record<string, string>;
}

/** The upgrade request as the `handshake` hook sees it. */
export interface HandshakeRequest {
  /** Request method (always `GET` by the time the hook runs). */
  method: string;
  /** Request target as received: path and query. */
  url: string;
  /** Path, without the query. */
  path: string;
  /** Query string without `?` (`''` if none). */
  query: string;
  /** The query, parsed. */
  searchParams: URLSearchParams;
  /** Headers, names lowercased; repeated headers joined with `, `. */
  headers: Readonly<Record<string, string>>;
  /** `Origin` header, if sent (browsers always send it: check it against CSWSH). */
  origin?: string;
  /** Subprotocols the client offers, in its order of preference. */
  protocols: readonly string[];
  /** Extensions the client offers. */
  extensions: readonly ExtensionOffer[];
  remoteAddress?: string;
  remotePort?: number;
  /** Whether the request came over TLS. */
  secure: boolean;
}

/** The hook accepts: optionally with a subprotocol, per-connection data and extra response headers. */
export interface HandshakeAccept {
  /** The subprotocol to use: one the client offered (else the hook counts as failed: 500). */
  protocol?: string;
  /** Carried by the connection as `conn.data`. */
  data?: unknown;
  /** Extra headers for the 101 response. */
  headers?: Record<string, string>;
}

/** The hook refuses: the client gets this HTTP response instead of an upgrade. */
export interface HandshakeReject {
  /** HTTP status, e.g. 401, 403, 429. */
  status: number;
  headers?: Record<string, string>;
  /** Response body (text); default: the status text. */
  body?: string;
}

/**
 * What the hook returns: `undefined`/`true` accepts as is, `false` refuses
 * with 403, an object with `status` refuses with it, any other object accepts
 * with its settings.
 */
export type HandshakeResult = void | boolean | HandshakeAccept | HandshakeReject;

/** The `handshake` hook of `listen`/`attach`/`upgrade` (on_request). Sync or async. */
export type HandshakeHook = (request: HandshakeRequest) => HandshakeResult | PromiseLike<HandshakeResult>;

/** Settings of the server handshake. */
export interface AcceptOptions {
  path?: string;
  maxPayload: number;
  highWaterMark: number;
  closeTimeout: number;
  handshakeTimeout: number;
  maxHeaderSize: number;
  protocols?: readonly string[] | ((offered: string[], request: ClientHandshakeRequest) => string | undefined);
  /** Called with each valid request before the hook; may refuse it (maxConnections, say). */
  decide?: (request: ClientHandshakeRequest) => AcceptDecision | null;
  /** The user's hook. */
  handshake?: HandshakeHook;
  /** Extensions the server supports, in its order of preference. */
  extensions?: readonly ExtensionFactory[];
  /** Hook on outgoing frames of every accepted connection. */
  sendHook?: SendFrameHook | null;
  /** Where a failing hook is reported. */
  onError?: (error: Error) => void;
}

/** A completed server handshake. */
export interface Accepted {
  transport: StreamTransport;
  request: ClientHandshakeRequest;
  head: HttpRequestHead;
  protocol: string;
  /** The extensions agreed, as in the response. */
  extensions: readonly ExtensionOffer[];
  /** Data the hook attached. */
  data: unknown;
  remoteAddress?: string;
  remotePort?: number;
}

/**
 * Called once: the accepted connection (transport not started), or null, why
 * not, and the HTTP status answered (0 when the socket dropped).
 */
export type AcceptCallback = (accepted: Accepted | null, reason?: string, status?: number) => void;

interface PeerInfo {
  remoteAddress?: string;
  remotePort?: number;
  secure: boolean;
}

function peerOf(stream: ByteStream): PeerInfo {
  const s = stream as ByteStream & { remoteAddress?: string; remotePort?: number; encrypted?: boolean };
  return { remoteAddress: s.remoteAddress, remotePort: s.remotePort, secure: s.encrypted === true };
}

/**
 * Reads and answers the opening handshake on a raw `stream`. Calls `done`
 * once with the transport (not started yet: the caller sets its listener,
 * then calls `start()`), or with null when the handshake failed (the stream
 * is then answered with an HTTP error where possible and closed).
 */
export function acceptStream(stream: ByteStream, options: AcceptOptions, done: AcceptCallback): void {
  let buf: Buffer | null = null;
  const hs = new PendingHandshake(stream, options, done);
  const onData = (chunk: Buffer): void => {
    const prev = buf === null ? 0 : buf.length;
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const result = parseRequestHead(buf, options.maxHeaderSize, prev > 3 ? prev - 3 : 0);
    if (result.kind === 'incomplete') return;
    stopReading();
    if (result.kind === 'error') return hs.reject(result.error.status || 400, result.error.message);
    const rest = buf.length > result.bodyOffset ? buf.subarray(result.bodyOffset) : null;
    hs.proceed(result.head, rest, peerOf(stream));
    // An asynchronous hook is still deciding: hold input (the first frames,
    // say) until the transport takes over. Otherwise the transport has it
    // already (see complete), or the request was refused.
    if (!hs.finished) awaitHook();
  };
  let stopReading: () => void;
  let awaitHook: () => void;
  if (stream.setSink !== undefined) {
    // A HandleSocket: the handshake takes its input by direct calls, as the
    // transport will (no listeners, so the socket never makes its `_events`).
    // While a hook decides it keeps reading into the handshake (up to
    // HOLD_LIMIT), so that a peer that leaves meanwhile is seen at once: a
    // paused handle reads no FIN. The transport's sink replaces this one.
    const setSink = stream.setSink.bind(stream);
    setSink(handshakeSink(onData, hs.onClose, hs.onError));
    stopReading = hs.cleanup = () => setSink(null);
    awaitHook = () => setSink(handshakeSink((chunk) => hs.hold(chunk), hs.onClose, hs.onError));
  } else {
    stopReading = hs.cleanup = () => stream.removeListener('data', onData);
    awaitHook = () => stream.pause();
    stream.on('data', onData);
  }
}

/** Input held during an asynchronous handshake hook before reading pauses (a HandleSocket's). */
const HOLD_LIMIT = 64 * 1024;

/**
 * Answers an upgrade request node:http has parsed (`server.on('upgrade')`):
 * same checks and callback as {@link acceptStream}. `head` is the first
 * bytes after the request head (node's third `upgrade` argument).
 */
export function acceptRequest(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer | null,
  options: AcceptOptions,
  done: AcceptCallback,
): void {
  const s = socket as Duplex & { setTimeout?(ms: number): void; setNoDelay?(on: boolean): void };
  // node:http's timeouts no longer apply: the WebSocket owns the socket now.
  s.setTimeout?.(0);
  s.setNoDelay?.(true);
  const hs = new PendingHandshake(socket, options, done);
  hs.proceed(headFromIncomingMessage(request), head !== null && head.length > 0 ? head : null, peerOf(socket));
}

/**
 * The core's head for a node:http `IncomingMessage`, built from
 * `rawHeaders` with the core's rules (lowercased names, repeats joined with
 * `, `, `set-cookie` with a newline), not from node's `headers` object,
 * which drops some repeats (a second `Host`, say) that the core must see.
 */
export function headFromIncomingMessage(request: IncomingMessage): HttpRequestHead {
  const raw = request.rawHeaders;
  const headers = createRecord<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const prev = headers[name];
    headers[name] = prev === undefined ? value : prev + (name === 'set-cookie' ? '\n' : ', ') + value;
  }
  return {
    method: request.method ?? 'GET',
    target: request.url ?? '/',
    version: request.httpVersion,
    headers,
    rawHeaders: raw.slice(),
  };
}

/** One server handshake in progress: owns the timer and the stream until it ends. */
class PendingHandshake {
  finished = false;
  cleanup: (() => void) | null = null;
  /** Input that arrives while the hook decides (a HandleSocket's), for the transport. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private readonly timer: NodeJS.Timeout;
  readonly onError = (): void => this.abort('socket error');
  readonly onClose = (): void => this.abort('socket closed during the handshake');

  constructor(
    private readonly stream: ByteStream,
    private readonly options: AcceptOptions,
    private readonly done: AcceptCallback,
  ) {
    this.timer = setTimeout(() => this.reject(408, 'opening handshake timed out'), options.handshakeTimeout);
    // A stream with `setSink` reports close and error to the sink acceptStream sets.
    if (stream.setSink === undefined) {
      stream.on('error', this.onError);
      stream.on('close', this.onClose);
    }
  }

  /** Input that arrived while the hook decides: kept for the transport; past HOLD_LIMIT, reading pauses. */
  hold(chunk: Buffer): void {
    (this.held ??= []).push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > HOLD_LIMIT) this.stream.pause();
  }

  private detach(): boolean {
    if (this.finished) return false;
    this.finished = true;
    clearTimeout(this.timer);
    this.cleanup?.();
    if (this.stream.setSink === undefined) {
      this.stream.removeListener('error', this.onError);
      this.stream.removeListener('close', this.onClose);
    }
    return true;
  }

  /** Refuses the upgrade with an HTTP error response, then closes. */
  reject(status: number, reason: string, headers?: Record<string, string>, body?: string): void {
    if (!this.detach()) return;
    const stream = this.stream;
    if (!stream.destroyed) {
      stream.pause();
      stream.on('error', ignore);
      stream.end(buildRejection(status, reason, headers, body));
      // A peer that never reads must not hold the socket.
      setTimeout(destroyStream, 1000, stream).unref();
    }
    this.done(null, reason, status);
  }

  private abort(reason: string): void {
    if (!this.detach()) return;
    this.stream.destroy();
    this.done(null, reason, 0);
  }

  /** Validates the head, runs the gate and the hook, and answers. */
  proceed(head: HttpRequestHead, rest: Buffer | null, peer: PeerInfo): void {
    if (this.finished) return;
    const options = this.options;
    const validation = validateClientRequest(head, options.path);
    if (!validation.ok) return this.reject(validation.status, validation.reason, validation.headers);
    const request = validation.request;
    const decision = options.decide?.(request) ?? null;
    if (decision?.reject) return this.reject(decision.reject.status, decision.reject.reason, decision.reject.headers);

    const hook = options.handshake;
    if (hook === undefined) return this.complete(head, request, rest, peer, decision, undefined);
    let result: HandshakeResult | PromiseLike<HandshakeResult>;
    try {
      result = hook(hookRequest(head, request, peer));
    } catch (error) {
      return this.hookFailed(error);
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<HandshakeResult>).then(
        (value) => {
          if (!this.finished) this.complete(head, request, rest, peer, decision, value);
        },
        (error: unknown) => {
          if (!this.finished) this.hookFailed(error);
        },
      );
      return;
    }
    this.complete(head, request, rest, peer, decision, result as HandshakeResult);
  }

  private hookFailed(error: unknown): void {
    const err = error instanceof Error ? error : new Error(`handshake hook failed: ${String(error)}`);
    this.reject(500, 'Internal Server Error');
    try {
      this.options.onError?.(err);
    } catch {
      // A failing error reporter must not take the server down either.
    }
  }

  private complete(
    head: HttpRequestHead,
    request: ClientHandshakeRequest,
    rest: Buffer | null,
    peer: PeerInfo,
    decision: AcceptDecision | null,
    result: HandshakeResult,
  ): void {
    const options = this.options;
    if (result === false) return this.reject(403, 'Forbidden');
    let protocol = decision?.protocol ?? '';
    let data: unknown;
    let headers = decision?.headers;
    let hookChoseProtocol = false;
    if (result !== null && typeof result === 'object') {
      if (typeof (result as HandshakeReject).status === 'number') {
        const r = result as HandshakeReject;
        // A refusal is a redirect or an error; anything else would look like an upgrade or a page.
        if (!(Number.isInteger(r.status) && r.status >= 300 && r.status <= 599)) {
          return this.hookFailed(new Error(`handshake hook rejected with status ${r.status} (use 300-599)`));
        }
        return this.reject(r.status, 'Handshake rejected.', r.headers, r.body);
      }
      const a = result as HandshakeAccept;
      data = a.data;
      if (a.headers !== undefined) headers = { ...headers, ...a.headers };
      if (a.protocol !== undefined && a.protocol !== '') {
        // RFC 6455 §4.2.2 item 5.4: only a subprotocol the client offered.
        if (!request.protocols.includes(a.protocol)) {
          return this.hookFailed(new Error(`handshake hook chose subprotocol "${a.protocol}", which the client did not offer`));
        }
        protocol = a.protocol;
        hookChoseProtocol = true;
      }
    }
    if (!hookChoseProtocol && !decision?.protocol && options.protocols !== undefined && request.protocols.length > 0) {
      try {
        protocol =
          (typeof options.protocols === 'function'
            ? options.protocols(request.protocols, request)
            : selectProtocol(request.protocols, options.protocols)) ?? '';
      } catch (error) {
        return this.hookFailed(error);
      }
    }
    const stream = this.stream;
    if (stream.destroyed) return this.abort('socket closed during the handshake');
    // RFC 6455 §9.1 / RFC 7692 §5: extensions the server supports, from the client's offers.
    const negotiated =
      options.extensions !== undefined && options.extensions.length > 0 && request.extensions.length > 0
        ? negotiateServer(options.extensions, request.extensions, { role: 'server', maxPayload: options.maxPayload })
        : null;
    this.detach();
    stream.write(
      buildServerResponse({
        accept: acceptKey(request.key),
        protocol,
        extensions: negotiated?.agreed,
        headers,
      }),
    );
    if (this.held !== null) {
      rest = Buffer.concat(rest === null ? this.held : [rest, ...this.held]);
      this.held = null;
    }
    const transport = new StreamTransport(
      stream,
      {
        role: 'server',
        maxPayload: options.maxPayload,
        highWaterMark: options.highWaterMark,
        closeTimeout: options.closeTimeout,
        extensions: negotiated?.active,
        sendHook: options.sendHook,
      },
      rest,
    );
    this.done({
      transport,
      request,
      head,
      protocol,
      extensions: negotiated?.agreed ?? emptyList(),
      data,
      remoteAddress: peer.remoteAddress,
      remotePort: peer.remotePort,
    });
    // `listen`, `attach` and `upgrade` start the transport inside `done`, so
    // input flows straight on (no pause and resume per connection). A caller
    // that starts it later gets the input held until then.
    if (!transport.started) stream.pause();
  }
}

function hookRequest(head: HttpRequestHead, request: ClientHandshakeRequest, peer: PeerInfo): HandshakeRequest {
  const out: HandshakeRequest = {
    method: head.method,
    url: head.target,
    path: request.path,
    query: request.query,
    searchParams: new URLSearchParams(request.query),
    headers: request.headers,
    protocols: request.protocols,
    extensions: request.extensions,
    remoteAddress: peer.remoteAddress,
    remotePort: peer.remotePort,
    secure: peer.secure,
  };
  if (request.origin !== undefined) out.origin = request.origin;
  return out;
}

function ignore(): void {}
function destroyStream(stream: ByteStream): void {
  stream.destroy();
}
