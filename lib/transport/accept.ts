/**
 * Server side of the opening handshake over a raw stream (RFC 6455 §4.2):
 * read the HTTP head, validate it with the core, answer 101 or an error, and
 * hand back a transport. Used by `listen`.
 */
import type { Duplex } from 'node:stream';
import {
  acceptKey,
  buildRejection,
  buildServerResponse,
  ClientHandshakeRequest,
  selectProtocol,
  validateClientRequest,
} from '../protocol/handshake';
import { HttpRequestHead, parseRequestHead } from '../protocol/http';
import { StreamTransport } from './stream-transport';

/** What the server decides for a valid upgrade request. */
export interface AcceptDecision {
  /** Refuse with this HTTP status (and reason, headers) instead of upgrading. */
  reject?: { status: number; reason: string; headers?: Record<string, string> };
  protocol?: string;
  headers?: Record<string, string>;
}

/** Settings of `acceptStream`. */
export interface AcceptOptions {
  path?: string;
  maxPayload: number;
  highWaterMark: number;
  closeTimeout: number;
  handshakeTimeout: number;
  maxHeaderSize: number;
  protocols?: readonly string[] | ((offered: string[], request: ClientHandshakeRequest) => string | undefined);
  /** Called with each valid request; may refuse it (maxConnections, say). */
  decide?: (request: ClientHandshakeRequest) => AcceptDecision | null;
}

/** A completed server handshake. */
export interface Accepted {
  transport: StreamTransport;
  request: ClientHandshakeRequest;
  head: HttpRequestHead;
  protocol: string;
}

/**
 * Reads and answers the opening handshake on `stream`. Calls `done` once with
 * the transport (not started yet: the caller sets its listener, then calls
 * `start()`), or with null when the handshake failed (the stream is then
 * answered with an HTTP error where possible and closed).
 */
export function acceptStream(
  stream: Duplex,
  options: AcceptOptions,
  done: (accepted: Accepted | null, reason?: string) => void,
): void {
  let buf: Buffer | null = null;
  let finished = false;
  const timer = setTimeout(() => reject(408, 'opening handshake timed out'), options.handshakeTimeout);

  function detach(): boolean {
    if (finished) return false;
    finished = true;
    clearTimeout(timer);
    stream.removeListener('data', onData);
    stream.removeListener('error', onError);
    stream.removeListener('close', onClose);
    return true;
  }

  /** Refuses the upgrade with an HTTP error response, then closes. */
  function reject(status: number, reason: string, headers?: Record<string, string>): void {
    if (!detach()) return;
    if (!stream.destroyed) {
      stream.pause();
      stream.on('error', ignore);
      stream.end(buildRejection(status, reason, headers));
      // A peer that never reads must not hold the socket.
      setTimeout(destroyStream, 1000, stream).unref();
    }
    done(null, reason);
  }

  function abort(reason: string): void {
    if (!detach()) return;
    stream.destroy();
    done(null, reason);
  }

  function onError(): void {
    abort('socket error');
  }
  function onClose(): void {
    abort('socket closed during the handshake');
  }

  function onData(chunk: Buffer): void {
    const prev = buf === null ? 0 : buf.length;
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const result = parseRequestHead(buf, options.maxHeaderSize, prev > 3 ? prev - 3 : 0);
    if (result.kind === 'incomplete') return;
    if (result.kind === 'error') return reject(result.error.status || 400, result.error.message);
    const head = result.head;
    const validation = validateClientRequest(head, options.path);
    if (!validation.ok) return reject(validation.status, validation.reason, validation.headers);
    const request = validation.request;
    const decision = options.decide?.(request) ?? null;
    if (decision?.reject) return reject(decision.reject.status, decision.reject.reason, decision.reject.headers);
    let protocol = decision?.protocol ?? '';
    if (!decision?.protocol && options.protocols !== undefined && request.protocols.length > 0) {
      protocol =
        (typeof options.protocols === 'function'
          ? options.protocols(request.protocols, request)
          : selectProtocol(request.protocols, options.protocols)) ?? '';
    }
    detach();
    // Hold input until the transport takes over (its start() resumes).
    stream.pause();
    stream.write(buildServerResponse({ accept: acceptKey(request.key), protocol, headers: decision?.headers }));
    const rest = buf.length > result.bodyOffset ? buf.subarray(result.bodyOffset) : null;
    const transport = new StreamTransport(
      stream,
      {
        role: 'server',
        maxPayload: options.maxPayload,
        highWaterMark: options.highWaterMark,
        closeTimeout: options.closeTimeout,
      },
      rest,
    );
    done({ transport, request, head, protocol });
  }

  stream.on('data', onData);
  stream.on('error', onError);
  stream.on('close', onClose);
}

function ignore(): void {}
function destroyStream(stream: Duplex): void {
  stream.destroy();
}
