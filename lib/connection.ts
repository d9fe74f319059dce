/**
 * The reactive connection: an Observable of messages (and of frames) and an
 * Observer sink, mapped onto the core's state the way tokio-tungstenite maps
 * it onto Stream/Sink.
 *
 * - `messages$` emits text as `string` and binary as `Buffer`; it completes
 *   on a normal close (1000, 1001 or no code, both ways) and errors once with
 *   a typed error on any other end. Nothing follows either.
 * - As an Observer: `next(data)` sends, `complete()` closes with 1000,
 *   `error(err)` closes with `err.closeCode` (1011 if it has none).
 *
 * The Rx layer talks to a `Transport`, never to a socket.
 */
import { Observable, Observer, Subscriber, Subject } from './rx';
import { CloseCode, isValidCloseCode, OK_CLOSE_CODES } from './protocol/close-codes';
import type { CloseInfo, SendFrameHook } from './protocol/connection';
import { truncateReason } from './protocol/connection';
import { ConnectionClosedError, NotDeliveredError, UsageError, WebSocketError } from './protocol/errors';
import type { Frame } from './protocol/frame-parser';
import type { OutgoingFrame } from './protocol/frame-writer';
import type { ExtensionOffer } from './protocol/handshake';
import type { Transport, TransportListener } from './transport/stream-transport';
import { writeHeader } from './protocol/frame-writer';
import { emptyList } from './protocol/lists';
import { decodeMessageText } from './protocol/utf8';

export type { CloseInfo, Frame, OutgoingFrame, SendFrameHook };

/** What a connection sends and receives: text as `string`, binary as bytes. */
export type WebSocketData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** Options of a single `send`. */
export interface SendOptions {
  /** Send a string as a binary message (its UTF-8 bytes), or bytes as binary (the default for bytes). */
  binary?: boolean;
  /** Split the message into frames of at most this many payload bytes. */
  fragmentSize?: number;
}

/** The HTTP upgrade request behind a connection. */
export interface UpgradeRequest {
  /** Request target (path and query) on the server side; the full URL on the client side. */
  url: string;
  /** Headers, names lowercased. */
  headers: Readonly<Record<string, string>>;
  remoteAddress?: string;
  remotePort?: number;
}

/** A message that could not be handed to the peer. */
export interface Undelivered {
  data: WebSocketData;
  error: WebSocketError;
}

/** Internal construction parameters (from `listen`, `connect`, the testing kit). */
export interface ConnectionInit {
  transport: Transport;
  protocol: string;
  extensions: readonly ExtensionOffer[];
  request: UpgradeRequest;
  /** Per-connection data attached by a handshake hook. */
  data?: unknown;
  /** The set of open connections this one leaves when it closes (the server's). */
  openSet?: Set<Connection>;
}

/**
 * A message encoded once as a complete server-side (unmasked) frame, to be
 * sent to many connections with `sendPrepared` (the hub's broadcast): the
 * frame is built once per publish, not once per connection.
 */
export interface PreparedMessage {
  /** The message as given (used when a connection cannot take the pre-built frame). */
  readonly data: string | Buffer;
  /** Whether it goes out as a binary message. */
  readonly binary: boolean;
  /** The whole frame: header and unmasked payload (RFC 6455 §5.2, server role). */
  readonly frame: Buffer;
}

/**
 * Builds a `PreparedMessage`: a string as a text frame (or binary with
 * `binary`), bytes as a binary frame. One unfragmented frame, no RSV bits, so
 * it is valid with or without permessage-deflate (RFC 7692 §6: uncompressed
 * messages have RSV1 clear).
 */
export function prepareMessage(data: WebSocketData, options?: { binary?: boolean }): PreparedMessage {
  const text = typeof data === 'string' && !options?.binary;
  const value: string | Buffer = typeof data === 'string' ? data : toBuffer(data);
  const payload = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = payload.length;
  const frame = Buffer.allocUnsafe((length < 126 ? 2 : length < 0x10000 ? 4 : 10) + length);
  const at = writeHeader(frame, 0, 0x80 | (text ? 0x1 : 0x2), length, false, 0);
  payload.copy(frame, at);
  return { data: value, binary: !text, frame };
}

/** Pre-subscription buffer: reading pauses past this many bytes. */
const PENDING_LIMIT = 64 * 1024;
/**
 * What a held message counts beyond its payload: its objects. Without it,
 * empty messages never reached PENDING_LIMIT: 11 million of them were read
 * and held (577 MB) before anyone subscribed.
 */
const HELD_OVERHEAD = 128;

interface PendingPing {
  payload: Buffer;
  sentAt: number;
  subject: Subject<number>;
}

let pingCounter = 0;

/**
 * One WebSocket connection. See the module comment.
 */
export class Connection implements Observer<WebSocketData>, TransportListener {
  /** The subprotocol agreed in the handshake ('' if none). */
  readonly protocol: string;
  /** The extensions agreed in the handshake. */
  readonly extensions: readonly ExtensionOffer[];
  /** The upgrade request. */
  readonly request: UpgradeRequest;
  /** Data attached by the server's handshake hook. */
  readonly data: unknown;

  private readonly transport: Transport;
  private readonly openSet: Set<Connection> | null;
  // Subscriber lists are copy-on-write: an emission iterates the array it
  // started with, whoever subscribes or unsubscribes meanwhile, without a
  // copy per message; and one subscriber costs a one-element array.
  private subscribers: readonly Subscriber<string | Buffer>[] = emptyList();
  private frameSubscribers: readonly Subscriber<Frame>[] = emptyList();
  /** Messages are held until the first messages$ subscriber (or a frames$ one). */
  private holding = true;
  private pending: { data: Buffer; text: boolean }[] | null = null;
  private pendingBytes = 0;
  private lastText: string | null = null;
  private lastTextBytes: Buffer | null = null;
  private ending: CloseInfo | null = null;
  // Created on first use: most connections never touch most of these, and at
  // 10,000 connections every object counts.
  private messagesObservable: Observable<string | Buffer> | null = null;
  private framesObservable: Observable<Frame> | null = null;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;
  private pingSubject: Subject<Buffer> | null = null;
  private pongSubject: Subject<Buffer> | null = null;
  private drainSubject: Subject<void> | null = null;
  private undeliveredSubject: Subject<Undelivered> | null = null;
  private pendingPings: PendingPing[] | null = null;
  private warnedUndelivered = false;

  constructor(init: ConnectionInit) {
    this.transport = init.transport;
    this.protocol = init.protocol;
    this.extensions = init.extensions;
    this.request = init.request;
    this.data = init.data;
    this.openSet = init.openSet ?? null;
    init.transport.listener = this;
  }

  /** Incoming messages: text as `string`, binary as `Buffer`. Hot; see the README on subscription timing. */
  get messages$(): Observable<string | Buffer> {
    return (this.messagesObservable ??= new Observable<string | Buffer>((subscriber) => this.subscribeMessages(subscriber)));
  }

  /** Every incoming frame, payload unmasked (frame-level access). */
  get frames$(): Observable<Frame> {
    return (this.framesObservable ??= new Observable<Frame>((subscriber) => this.subscribeFrames(subscriber)));
  }

  /** Payloads of pings received (each already answered with a pong). */
  get pings$(): Observable<Buffer> {
    return (this.pingSubject ??= this.endedSubject<Buffer>()).asObservable();
  }

  /** Payloads of pongs received. */
  get pongs$(): Observable<Buffer> {
    return (this.pongSubject ??= this.endedSubject<Buffer>()).asObservable();
  }

  /** Emits when the write buffer drains after passing the high-water mark. */
  get drain$(): Observable<void> {
    return (this.drainSubject ??= this.endedSubject<void>()).asObservable();
  }

  /** Data handed over but not sent (after the close, say). Never completes: late sends are what it reports. */
  get undelivered$(): Observable<Undelivered> {
    return (this.undeliveredSubject ??= new Subject<Undelivered>()).asObservable();
  }

  /** Resolves (never rejects) when the connection is over. */
  get closed(): Promise<CloseInfo> {
    if (this.closedPromise === null) {
      const ending = this.ending;
      this.closedPromise =
        ending !== null ? Promise.resolve(ending) : new Promise<CloseInfo>((resolve) => (this.resolveClosed = resolve));
    }
    return this.closedPromise;
  }

  /** A new Subject, already completed if the connection is over. */
  private endedSubject<T>(): Subject<T> {
    const subject = new Subject<T>();
    if (this.ending !== null) subject.complete();
    return subject;
  }

  /** Bytes queued for sending and not yet written to the network. */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /** Whether the outgoing buffer is over its high-water mark (slow down until `drain$`). */
  get congested(): boolean {
    return this.transport.congested;
  }

  /** Whether messages can still be sent (no close frame sent, transport open). */
  get isOpen(): boolean {
    return this.ending === null && this.transport.protocol.writable;
  }

  /** How the connection ended, once it has; null before. */
  get closeInfo(): CloseInfo | null {
    return this.ending;
  }

  // ---- sending -----------------------------------------------------------

  /**
   * Sends a message: a string as text, bytes as binary. Returns false when it
   * was not sent (the connection is closing or closed); the message is then
   * reported on `undelivered$`.
   */
  send(data: WebSocketData, options?: SendOptions): boolean {
    const protocol = this.transport.protocol;
    const fragmentSize = options?.fragmentSize ?? 0;
    let ok: boolean;
    if (typeof data === 'string') {
      if (options?.binary) ok = protocol.sendBinary(Buffer.from(data, 'utf8'), fragmentSize);
      else if (data === this.lastText) ok = protocol.sendBinary(this.lastTextBytes!, fragmentSize, true);
      else ok = protocol.sendText(data, fragmentSize);
    } else {
      ok = protocol.sendBinary(toBuffer(data), fragmentSize);
    }
    if (!ok) this.reportUndelivered(data);
    return ok;
  }

  /**
   * Sends one raw frame (hand-made fragmentation). Throws a `UsageError` for a
   * frame that would break the protocol (a second message inside an open one,
   * an oversized or fragmented control frame, a close frame).
   */
  sendFrame(frame: OutgoingFrame): void {
    const error = this.transport.protocol.sendFrame(frame);
    if (error !== null) throw error;
  }

  /**
   * Sends a message built once by `prepareMessage` (broadcast). A server-side
   * connection queues the pre-built frame as is, in order with everything
   * else it sends; any other (a client, which must mask, or one with an
   * extension or a send hook in play) falls back to `send`. Returns false,
   * and reports on `undelivered$`, when it was not sent.
   */
  sendPrepared(message: PreparedMessage): boolean {
    if (this.transport.protocol.sendPrepared(message.frame)) return true;
    return this.send(message.data, { binary: message.binary });
  }

  /**
   * Fails the connection with `error` (RFC 6455 §7.1.7): sends a close frame
   * with `error.closeCode` if none was sent yet, then drops the transport at
   * once. `messages$` and `frames$` error with `error` itself and `closed`
   * resolves with it in `error`. Used by `heartbeat` when no pong comes.
   */
  fail(error: WebSocketError): void {
    if (this.ending !== null) return;
    this.transport.protocol.fail(error);
    this.transport.destroy(error);
  }

  /**
   * Sends a ping now and returns an Observable of the round-trip time in
   * milliseconds, emitted when the matching pong arrives (then it completes).
   * Errors with `NotDeliveredError` if the connection closes first.
   */
  ping(payload?: WebSocketData): Observable<number> {
    let buf: Buffer;
    if (payload === undefined) {
      buf = Buffer.allocUnsafe(4);
      buf.writeUInt32BE((pingCounter = (pingCounter + 1) >>> 0), 0);
    } else buf = typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    if (buf.length > 125) throw new UsageError('ping payload over 125 bytes', 'WS_ERR_INVALID_FRAME');
    const subject = new Subject<number>();
    const result = new Observable<number>((subscriber) => {
      if (entry.done !== undefined) {
        if (entry.done instanceof Error) subscriber.error(entry.done);
        else {
          subscriber.next(entry.done);
          subscriber.complete();
        }
        return;
      }
      return subject.subscribe(subscriber);
    });
    const entry: PendingPing & { done?: number | Error } = { payload: buf, sentAt: performance.now(), subject };
    subject.subscribe({
      next: (rtt) => (entry.done = rtt),
      error: (err) => (entry.done = err),
    });
    if (!this.transport.protocol.ping(buf)) {
      subject.error(new NotDeliveredError('the connection is closing: ping not sent'));
    } else (this.pendingPings ??= []).push(entry);
    return result;
  }

  /**
   * Installs a hook that sees every frame about to be written, after
   * extensions (compressed payloads carry RSV1), payload unmasked: inspect or
   * count it, or return a replacement frame (the seed's `on_send_frame`).
   * `null` removes it. With no hook and no extension, sending takes the
   * fast path.
   */
  onSendFrame(hook: SendFrameHook | null): void {
    this.transport.protocol.setSendHook(hook);
  }

  /** Sends an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3). */
  pong(payload?: WebSocketData): boolean {
    const buf = payload === undefined ? undefined : typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    return this.transport.protocol.pong(buf);
  }

  /**
   * Starts the closing handshake with `code` (default 1000) and `reason`
   * (at most 123 bytes of UTF-8). Throws a `UsageError` for a code that may
   * not be sent. Does nothing if a close frame was already sent.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (!isValidCloseCode(code)) throw new UsageError(`close code ${code} may not be sent`, 'WS_ERR_INVALID_CLOSE_CODE');
    if (Buffer.byteLength(reason) > 123) throw new UsageError('close reason over 123 bytes', 'WS_ERR_INVALID_CLOSE_REASON');
    this.transport.close(code, reason);
  }

  /** Closes at once, without the closing handshake (the peer sees 1006). */
  terminate(): void {
    this.transport.destroy();
  }

  /** Stops reading from the peer (application backpressure); `resume()` undoes it. */
  pause(): void {
    this.transport.pauseReading();
  }

  /** Resumes reading after `pause()`. */
  resume(): void {
    this.transport.resumeReading();
  }

  // ---- Observer ----------------------------------------------------------

  /** Observer: sends `data` (see `send`). Never throws; undelivered data goes to `undelivered$`. */
  next(data: WebSocketData): void {
    this.send(data);
  }

  /** Observer: closes normally (1000). Harmless once closed. */
  complete(): void {
    if (this.ending === null) this.transport.close(CloseCode.Normal, '');
  }

  /** Observer: closes with `err.closeCode` (1011 if it has none or it may not be sent). */
  error(err: unknown): void {
    if (this.ending !== null) return;
    const code = err instanceof WebSocketError && isValidCloseCode(err.closeCode) ? err.closeCode : CloseCode.InternalError;
    const reason = err instanceof Error ? truncateReason(err.message) : '';
    this.transport.close(code, reason);
  }

  // ---- TransportListener -------------------------------------------------

  /** @internal */
  onMessage(data: Buffer, text: boolean): void {
    if (this.holding) {
      // Held past this read: a copy when it is a small part of a larger
      // buffer (the chunk it arrived in), which it would keep alive.
      const held = 2 * data.length >= data.buffer.byteLength ? data : Buffer.from(data);
      (this.pending ??= []).push({ data: held, text });
      this.pendingBytes += data.length + HELD_OVERHEAD;
      if (this.pendingBytes > PENDING_LIMIT) this.transport.pauseReading();
      return;
    }
    this.deliver(data, text, null);
  }

  /** Emits a message to `only`, or to every messages$ subscriber. */
  private deliver(data: Buffer, text: boolean, only: Subscriber<string | Buffer> | null): void {
    let value: string | Buffer = data;
    if (text) {
      // An echo or a proxy sends the very string on, synchronously: `send`
      // recognises it and writes the bytes it arrived in. Only for the length
      // of this emission: kept longer, the string and its bytes would outlive
      // the young generation and be copied, promoted and marked by the GC.
      const decoded = decodeMessageText(data);
      if (typeof decoded !== 'string') return this.transport.protocol.fail(decoded);
      value = decoded;
      this.lastText = value;
      this.lastTextBytes = data;
    }
    try {
      const subscribers = this.subscribers;
      if (only !== null) only.next(value);
      else if (subscribers.length === 1) subscribers[0].next(value);
      else for (let i = 0; i < subscribers.length; i++) subscribers[i].next(value);
    } finally {
      this.lastText = null;
      this.lastTextBytes = null;
    }
  }

  /** @internal */
  onFrame(frame: Frame): void {
    const subscribers = this.frameSubscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i].next(frame);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    if (this.pingSubject?.observed) this.pingSubject.next(Buffer.from(payload));
  }

  /** @internal */
  onPong(payload: Buffer): void {
    const pings = this.pendingPings;
    for (let i = 0; pings !== null && i < pings.length; i++) {
      if (pings[i].payload.equals(payload)) {
        // A pong answers the ping with its payload and, implicitly, every
        // earlier one (RFC 6455 §5.5.3: a pong may answer only the latest).
        const now = performance.now();
        const answered = pings.splice(0, i + 1);
        for (const p of answered) {
          p.subject.next(now - p.sentAt);
          p.subject.complete();
        }
        break;
      }
    }
    if (this.pongSubject?.observed) this.pongSubject.next(Buffer.from(payload));
  }

  /** @internal */
  onCloseFrame(): void {
    // Streams end when the transport closes, once `wasClean` is known.
  }

  /** @internal Data accepted by `send` but dropped before it was written. */
  onUndelivered(data: string | Buffer): void {
    this.reportUndelivered(data);
  }

  /** @internal */
  onDrain(): void {
    this.drainSubject?.next();
  }

  /** @internal */
  onClosed(info: CloseInfo): void {
    this.ending = info;
    this.lastText = null;
    this.lastTextBytes = null;
    const error = endingError(info);
    this.openSet?.delete(this);
    const pings = this.pendingPings;
    this.pendingPings = null;
    if (pings !== null) for (const p of pings) p.subject.error(new NotDeliveredError('the connection closed before the pong arrived'));
    const subscribers = this.subscribers;
    const frameSubscribers = this.frameSubscribers;
    this.subscribers = emptyList();
    this.frameSubscribers = emptyList();
    for (const s of subscribers) {
      if (error) s.error(error);
      else s.complete();
    }
    for (const s of frameSubscribers) {
      if (error) s.error(error);
      else s.complete();
    }
    this.pingSubject?.complete();
    this.pongSubject?.complete();
    this.drainSubject?.complete();
    this.resolveClosed?.(info);
    // undelivered$ stays open: a send after the close is exactly what it reports.
  }

  // ---- internals ---------------------------------------------------------

  private subscribeMessages(subscriber: Subscriber<string | Buffer>): () => void {
    if (this.ending !== null) {
      this.releasePending(subscriber);
      const error = endingError(this.ending);
      if (error) subscriber.error(error);
      else subscriber.complete();
      return noop;
    }
    this.subscribers = [...this.subscribers, subscriber];
    if (this.holding) this.releasePending(subscriber);
    return () => {
      this.subscribers = without(this.subscribers, subscriber);
    };
  }

  private subscribeFrames(subscriber: Subscriber<Frame>): () => void {
    if (this.ending !== null) {
      const error = endingError(this.ending);
      if (error) subscriber.error(error);
      else subscriber.complete();
      return noop;
    }
    this.frameSubscribers = [...this.frameSubscribers, subscriber];
    this.transport.protocol.parser.emitFrames = true;
    // Someone is listening at the frame level: do not hold messages back.
    if (this.holding && this.subscribers.length === 0) this.releasePending(null);
    return () => {
      this.frameSubscribers = without(this.frameSubscribers, subscriber);
      if (this.frameSubscribers.length === 0) this.transport.protocol.parser.emitFrames = false;
    };
  }

  /** Messages that arrived before anyone subscribed go to the first subscriber (or nowhere: null). */
  private releasePending(subscriber: Subscriber<string | Buffer> | null): void {
    if (!this.holding) return;
    this.holding = false;
    const pending = this.pending;
    this.pending = null;
    if (pending === null) return;
    const wasPaused = this.pendingBytes > PENDING_LIMIT;
    this.pendingBytes = 0;
    if (subscriber !== null) {
      for (const m of pending) {
        if (subscriber.closed) break;
        this.deliver(m.data, m.text, subscriber);
      }
    }
    if (wasPaused && this.ending === null) this.transport.resumeReading();
  }

  private reportUndelivered(data: WebSocketData): void {
    const error = new NotDeliveredError();
    if (this.undeliveredSubject?.observed) {
      this.undeliveredSubject.next({ data, error });
    } else if (!this.warnedUndelivered) {
      // Nobody watches undelivered$: warn (once per connection) rather than lose it silently.
      this.warnedUndelivered = true;
      process.emitWarning(`ws-rx: ${error.message} (subscribe to conn.undelivered$ to handle this)`, {
        code: error.code,
      });
    }
  }
}

/** The error that ends a connection's streams, or null for a normal close. */
export function endingError(info: CloseInfo): WebSocketError | null {
  if (info.error) return info.error;
  if (info.wasClean && OK_CLOSE_CODES.has(info.code) && (info.sentCode === undefined || OK_CLOSE_CODES.has(info.sentCode))) {
    return null;
  }
  return new ConnectionClosedError(info.code, info.reason, info.wasClean);
}

/** Bytes as a Buffer without copying (a view for typed arrays). @internal */
export function toBuffer(data: Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** `list` without (the first) `item`: a new array, or `list` if it is not there. */
function without<T>(list: readonly T[], item: T): readonly T[] {
  const i = list.indexOf(item);
  if (i < 0) return list;
  if (list.length === 1) return emptyList();
  return [...list.slice(0, i), ...list.slice(i + 1)];
}

function noop(): void {}
