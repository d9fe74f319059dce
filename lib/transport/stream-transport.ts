/**
 * Glue between the sans-I/O core and a byte stream: a `HandleSocket` (plain
 * TCP on libuv's handle, the default), a `net.Socket`, a `tls.TLSSocket`, the
 * in-memory duplex of the testing kit, or (later) an HTTP/2 stream. It feeds
 * chunks to the core, writes the core's output, and owns the timers
 * (python-websockets `data_received`; ws `setSocket`).
 *
 * Hot path: a `HandleSocket` calls the transport directly (`setSink`); other
 * streams get one module-level `data` listener (state on the instance, ws
 * `socketOnData`). All frames produced while handling a chunk go out in one
 * `write` (or one `writev` when large payloads are queued by reference), and
 * frames sent from elsewhere are batched until the next microtask.
 *
 * Backpressure: when the stream's write buffer passes `highWaterMark`, the
 * transport stops reading from it until it drains, so an echo facing a peer
 * that sends without reading cannot grow memory without bound.
 */
import { CloseInfo, ProtocolHandler, SendFrameHook, WebSocketProtocol } from '../protocol/connection';
import { ConnectionClosedError, InternalError, TimeoutError, WebSocketError } from '../protocol/errors';
import type { Extension } from '../protocol/extension';
import type { Frame } from '../protocol/frame-parser';

/** What a transport reports upward (to the Rx connection). */
export interface TransportListener {
  onMessage(data: Buffer, text: boolean): void;
  onFrame(frame: Frame): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  onCloseFrame(code: number, reason: string): void;
  /** The write buffer drained after having passed the high-water mark. */
  onDrain(): void;
  /** The transport is closed: the connection is over. Called once. */
  onClosed(info: CloseInfo): void;
  /** Data a send accepted was dropped before it was written (it waited behind an extension). */
  onUndelivered?(data: string | Buffer): void;
}

/**
 * What the Rx layer needs from a transport. A transport is anything that
 * moves the core's bytes: the Rx layer never sees a socket.
 */
export interface Transport {
  readonly protocol: WebSocketProtocol;
  listener: TransportListener | null;
  /** Bytes queued for writing (core queue + stream buffer). */
  readonly bufferedAmount: number;
  /** Whether writing is over the high-water mark. */
  readonly congested: boolean;
  /** Starts delivering input (call once the listener is set). */
  start(): void;
  /** Stops / restarts reading input (application backpressure). */
  pauseReading(): void;
  resumeReading(): void;
  /** Starts the closing handshake; the transport is destroyed if it does not finish in time. */
  close(code: number, reason: string): void;
  /** Closes at once, without a closing handshake. */
  destroy(error?: WebSocketError): void;
}

/** Transport options. */
export interface StreamTransportOptions {
  role: 'client' | 'server';
  maxPayload: number;
  /** Write-buffer size (bytes) above which reading pauses. */
  highWaterMark: number;
  /** How long (ms) to wait for the closing handshake and the TCP close. */
  closeTimeout: number;
  /** Negotiated extensions (permessage-deflate...), in the handshake response's order. */
  extensions?: readonly Extension[];
  /** Hook on outgoing frames. */
  sendHook?: SendFrameHook | null;
}

/**
 * The part of a `Duplex` a transport and the server handshake use: a
 * `net`/`tls` socket, the testing kit's in-memory duplex, a `HandleSocket`.
 */
export interface ByteStream {
  /**
   * Optional, for a stream that can call its transport itself (HandleSocket):
   * from now on `data`, `end`, `close`, `error` and `drain` go to `sink`
   * instead of through five listeners (no listener entries per connection,
   * no `emit` per read). `data` then goes to the sink alone; the others are
   * still emitted to any listeners, after the sink. Null takes it back.
   */
  setSink?(sink: StreamSink | null): void;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  write(data: Buffer | string): boolean;
  cork(): void;
  uncork(): void;
  end(): unknown;
  end(data: Buffer | string): unknown;
  destroy(error?: Error): unknown;
}

/** Where a stream with `setSink` delivers (the transport's own handlers). */
export interface StreamSink {
  receive(chunk: Buffer): void;
  handleEnd(): void;
  finish(): void;
  handleError(error: Error): void;
  handleDrain(): void;
}

/**
 * The sink an opening handshake sets on a stream with `setSink` while it
 * reads the HTTP head: input, and the stream's close and error. End and
 * drain are left to the transport that takes over.
 */
export function handshakeSink(receive: (chunk: Buffer) => void, onClose: () => void, onError: (error: Error) => void): StreamSink {
  return { receive, handleEnd: ignoreEvent, finish: onClose, handleError: onError, handleDrain: ignoreEvent };
}

function ignoreEvent(): void {}

const kTransport = Symbol('ws-rx.transport');

/**
 * Transports with frames sent from outside their own input handling (a timer,
 * another connection: a broadcast), written in one microtask for all of them:
 * no closure per transport, one task per burst.
 */
const flushQueue: StreamTransport[] = [];

function flushQueued(): void {
  // A flush may queue another transport: the loop reaches it too.
  for (let i = 0; i < flushQueue.length; i++) {
    const t = flushQueue[i];
    t.flushScheduled = false;
    try {
      t.flush();
    } catch (error) {
      // Not expected (a write on a live stream does not throw); the others still go out.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  flushQueue.length = 0;
}
type TaggedStream = ByteStream & { [kTransport]?: StreamTransport };

/** A transport over a Node `Duplex` (or the part of one a {@link ByteStream} names). */
export class StreamTransport implements Transport, ProtocolHandler, StreamSink {
  readonly protocol: WebSocketProtocol;
  listener: TransportListener | null = null;
  readonly stream: ByteStream;
  private readonly highWaterMark: number;
  private readonly closeTimeout: number;
  private head: Buffer | null;
  /** Set while `receive` runs: output queued meanwhile goes out in its closing flush. */
  private inReceive = false;
  /** @internal A flush is scheduled (see `scheduleFlush`); whoever runs it clears this first. */
  flushScheduled = false;
  private isStarted = false;
  private userPaused = false;
  private congestedPause = false;
  /** Reading stopped while an extension decodes and input piles up. */
  private decodePause = false;
  /** The stream closed while an extension was decoding: finish once the buffered input is parsed. */
  private finishDeferred = false;
  private closing = false;
  private ended = false;
  private closeTimer: NodeJS.Timeout | null = null;
  private streamError: Error | null = null;

  constructor(stream: ByteStream, options: StreamTransportOptions, head: Buffer | null = null) {
    this.stream = stream;
    this.highWaterMark = options.highWaterMark;
    this.closeTimeout = options.closeTimeout;
    this.head = head !== null && head.length > 0 ? head : null;
    this.protocol = new WebSocketProtocol(this, {
      role: options.role,
      maxPayload: options.maxPayload,
      extensions: options.extensions,
      sendHook: options.sendHook,
    });
  }

  get bufferedAmount(): number {
    return this.protocol.writer.pendingBytes + this.stream.writableLength;
  }

  get congested(): boolean {
    return this.stream.writableLength > this.highWaterMark;
  }

  /** Whether `start()` was called. */
  get started(): boolean {
    return this.isStarted;
  }

  start(): void {
    this.isStarted = true;
    const stream = this.stream;
    if (stream.setSink !== undefined) stream.setSink(this);
    else {
      (stream as TaggedStream)[kTransport] = this;
      stream.on('data', streamOnData);
      stream.on('end', streamOnEnd);
      stream.on('close', streamOnClose);
      stream.on('error', streamOnError);
      stream.on('drain', streamOnDrain);
    }
    if (!this.userPaused) stream.resume();
    if (this.head !== null) {
      const head = this.head;
      this.head = null;
      this.receive(head);
    }
    if ((stream as { destroyed?: boolean }).destroyed) this.finish();
  }

  /** @internal */
  receive(chunk: Buffer): void {
    this.inReceive = true;
    try {
      this.protocol.receive(chunk);
    } catch (error) {
      // Peer input never throws (the core fails the connection instead).
      // What does is code running inside the core (a custom extension's
      // decode) or a resource failure: it fails this connection with 1011
      // instead of leaving the socket's data handler and ending the process.
      this.protocol.fail(new InternalError('error while handling input', error));
    } finally {
      this.inReceive = false;
    }
    this.flush();
    // An extension is decoding asynchronously and input keeps coming: stop
    // reading until it catches up (ws pauses the socket while INFLATING).
    const parser = this.protocol.parser;
    if (!this.decodePause && parser.isPaused && parser.bufferedAmount > this.highWaterMark) {
      this.decodePause = true;
      this.stream.pause();
    }
  }

  /** Writes everything the core has queued: one write, or one corked burst. */
  flush(): void {
    const out = this.protocol.takeOutput();
    if (out === null) return;
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    if (out.length === 1) {
      stream.write(out[0]);
    } else {
      stream.cork();
      for (let i = 0; i < out.length; i++) stream.write(out[i]);
      stream.uncork();
    }
    if (!this.congestedPause && stream.writableLength > this.highWaterMark) {
      this.congestedPause = true;
      stream.pause();
    }
  }

  pauseReading(): void {
    this.userPaused = true;
    this.stream.pause();
  }

  resumeReading(): void {
    this.userPaused = false;
    if (!this.congestedPause && !this.decodePause) this.stream.resume();
  }

  close(code: number, reason: string): void {
    if (this.protocol.close(code, reason)) this.armCloseTimer();
  }

  destroy(error?: WebSocketError): void {
    if (error !== undefined && this.streamError === null) this.streamError = error;
    this.flush();
    this.stream.destroy();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.ended) return;
    this.closeTimer = setTimeout(closeTimerFired, this.closeTimeout, this);
    this.closeTimer.unref?.();
  }

  // ---- ProtocolHandler ---------------------------------------------------

  onMessage(data: Buffer, text: boolean): void {
    this.listener!.onMessage(data, text);
  }
  onFrame(frame: Frame): void {
    this.listener!.onFrame(frame);
  }
  onPing(payload: Buffer): void {
    this.listener!.onPing(payload);
  }
  onPong(payload: Buffer): void {
    this.listener!.onPong(payload);
  }
  onCloseFrame(code: number, reason: string): void {
    this.armCloseTimer();
    this.listener!.onCloseFrame(code, reason);
  }
  onUndelivered(data: string | Buffer): void {
    this.listener?.onUndelivered?.(data);
  }
  onInputResumed(): void {
    if (this.finishDeferred) {
      this.finish();
      return;
    }
    if (this.decodePause) {
      this.decodePause = false;
      if (!this.userPaused && !this.congestedPause) this.stream.resume();
    }
  }
  onFail(): void {
    // The core queued the close frame. A server gets onCloseTransport next; a
    // client waits for the server's FIN, at most closeTimeout.
    this.armCloseTimer();
  }
  onOutput(): void {
    if (this.inReceive || this.flushScheduled) return;
    this.flushScheduled = true;
    this.scheduleFlush();
  }

  /**
   * Runs `flush()` later, clearing `flushScheduled` first: here in one
   * microtask for all transports (the testing kit schedules it in virtual time).
   */
  protected scheduleFlush(): void {
    if (flushQueue.push(this) === 1) queueMicrotask(flushQueued);
  }
  onCloseTransport(): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    // RFC 6455 §7.1.1: the server closes TCP first (FIN after the close
    // frame); the timer covers a peer that never finishes.
    this.stream.end();
    // RFC 6455 §7.1.7: a failed connection is dropped once the close frame is
    // out; a peer that broke the protocol gets no closing-handshake wait.
    if (this.protocol.failure !== undefined) this.stream.once('finish', destroyAfterFinish);
    this.armCloseTimer();
  }

  // ---- stream events -----------------------------------------------------

  /** @internal */
  handleEnd(): void {
    // The peer half-closed. After a completed closing handshake the client
    // answers the server's FIN with its own (§7.1.1); in every other case the
    // connection is over too.
    if (!this.stream.writableEnded) {
      this.flush();
      this.stream.end();
    }
    this.armCloseTimer();
  }

  /** @internal */
  handleDrain(): void {
    if (this.congestedPause) {
      this.congestedPause = false;
      if (!this.userPaused && !this.decodePause) this.stream.resume();
    }
    this.listener?.onDrain();
  }

  /** @internal */
  handleError(error: Error): void {
    if (this.streamError === null) this.streamError = error;
  }

  /** @internal */
  finish(): void {
    if (this.ended) return;
    if (this.protocol.decoding && !this.finishDeferred) {
      // Input that arrived before the close (the last messages, the peer's
      // close frame) still waits behind an asynchronous decode: parse it
      // first, as ws waits for its Receiver to finish. Bounded by closeTimeout.
      this.finishDeferred = true;
      setTimeout(finishTimerFired, this.closeTimeout, this).unref?.();
      return;
    }
    this.ended = true;
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    const protocol = this.protocol;
    protocol.writer.discard();
    const info = protocol.receiveEof();
    if (info.error === undefined && !info.wasClean) {
      const cause = this.streamError;
      if (cause instanceof WebSocketError) info.error = cause;
      else {
        const err = new ConnectionClosedError(
          1006,
          '',
          false,
          cause ? `connection lost: ${cause.message}` : 'connection closed without a closing handshake',
        );
        if (cause) (err as { cause?: unknown }).cause = cause;
        info.error = err;
      }
    }
    this.listener?.onClosed(info);
  }
}

function closeTimerFired(t: StreamTransport): void {
  (t as unknown as { closeTimer: null }).closeTimer = null;
  t.destroy(
    t.protocol.closeReceived && t.protocol.closeSent
      ? undefined
      : new TimeoutError('closing handshake timed out', 'WS_ERR_CLOSE_TIMEOUT'),
  );
}

function destroyAfterFinish(this: ByteStream): void {
  this.destroy();
}

function finishTimerFired(t: StreamTransport): void {
  t.finish();
}

function streamOnData(this: TaggedStream, chunk: Buffer): void {
  this[kTransport]!.receive(chunk);
}
function streamOnEnd(this: TaggedStream): void {
  this[kTransport]!.handleEnd();
}
function streamOnClose(this: TaggedStream): void {
  this[kTransport]!.finish();
}
function streamOnError(this: TaggedStream, error: Error): void {
  this[kTransport]!.handleError(error);
}
function streamOnDrain(this: TaggedStream): void {
  this[kTransport]!.handleDrain();
}
