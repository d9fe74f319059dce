/**
 * The sans-I/O WebSocket connection: one endpoint's protocol state after the
 * opening handshake (RFC 6455 §5–§7). Bytes in with `receive()` and
 * `receiveEof()`; messages out through the handler; bytes out through
 * `takeOutput()`. No sockets, no timers, no RxJS (python-websockets
 * `protocol.py`): the transport owns I/O and time.
 */
import { CloseCode, isValidCloseCode } from './close-codes';
import { Opcode } from './opcodes';
import {
  InternalError,
  InvalidPayloadError,
  MessageTooBigError,
  ProtocolError,
  UsageError,
  WebSocketError,
} from './errors';
import type { Extension, ExtensionFrame, ExtensionSink } from './extension';
import { Frame, FrameParser } from './frame-parser';
import { FrameWriter, OutgoingFrame } from './frame-writer';
import { append, emptyList } from './lists';
import { MessageAssembler } from './assembler';
import { isValidUtf8, Utf8Validator } from './utf8';

/** Connection state (RFC 6455 §4, §7). */
export const ProtocolState = {
  Open: 1,
  /** A close frame was sent or received, the handshake is not complete. */
  Closing: 2,
  /** The transport is gone. */
  Closed: 3,
} as const;
export type ProtocolState = (typeof ProtocolState)[keyof typeof ProtocolState];

/** How a connection ended. */
export interface CloseInfo {
  /** The peer's close code; 1005 if its close frame had none; 1006 if it sent none. */
  code: number;
  /** The peer's close reason ('' if none). */
  reason: string;
  /** Whether close frames went both ways before the transport closed (RFC 6455 §7.1.4). */
  wasClean: boolean;
  /** The code we sent in our close frame, if we sent one (1005: an empty close frame). */
  sentCode?: number;
  /** Why the connection failed, when it did (a protocol violation, a lost transport...). */
  error?: WebSocketError;
}

/** What the core reports. All calls are synchronous, from inside `receive()` or a send. */
export interface ProtocolHandler {
  /** A complete message. Text arrives as validated UTF-8 bytes. */
  onMessage(data: Buffer, text: boolean): void;
  /** Every frame as received, while `emitFrames` is on. */
  onFrame(frame: Frame): void;
  /** A ping arrived; the pong is already queued. */
  onPing(payload: Buffer): void;
  /** A pong arrived. */
  onPong(payload: Buffer): void;
  /** The peer's close frame arrived (the reply is already queued). */
  onCloseFrame(code: number, reason: string): void;
  /** The connection failed (RFC 6455 §7.1.7); the close frame is queued and input is discarded. */
  onFail(error: WebSocketError): void;
  /** Output went from empty to non-empty: the transport should flush (now or soon). */
  onOutput(): void;
  /** Time for the transport to close: after the close handshake (server) or a failure. */
  onCloseTransport(): void;
  /**
   * Data accepted by a send but dropped before it reached the writer (it was
   * waiting behind an asynchronous extension step when the connection ended).
   */
  onUndelivered?(data: string | Buffer): void;
  /** The parser resumed after an asynchronous decode (the transport may read again). */
  onInputResumed?(): void;
}

/**
 * Sees every frame about to be written (after extensions), payload unmasked:
 * inspect or count it, or return a replacement (the seed's `on_send_frame`).
 * Runs synchronously; must not send.
 */
export type SendFrameHook = (frame: Frame) => Frame | void;

/** Options of the core. */
export interface ProtocolOptions {
  role: 'client' | 'server';
  /** Largest incoming message in bytes (1009 above; after decoding, with extensions). */
  maxPayload: number;
  /** Negotiated extensions, in the order of the handshake response. */
  extensions?: readonly Extension[];
  /** Hook on outgoing frames. */
  sendHook?: SendFrameHook | null;
}

/** An outgoing frame waiting for extensions (slow path only). */
interface QueuedFrame extends ExtensionFrame {
  /** Split the (encoded) payload into frames of at most this many bytes; 0: do not. */
  fragmentSize: number;
  /** The data as handed to a send, to report if it is dropped; null for frames nobody sent as data. */
  original: string | Buffer | null;
}

/** Receives the result of a transform for one direction (no per-frame closures). */
class StageSink implements ExtensionSink {
  /** Index of the extension working now. */
  stage = 0;
  /** A transform is in progress. */
  waiting = false;
  /** Inside the extension's call (a result now is synchronous). */
  inCall = false;
  result: ExtensionFrame | null = null;
  constructor(
    private readonly protocol: WebSocketProtocol,
    private readonly incoming: boolean,
  ) {}
  next(frame: ExtensionFrame): void {
    if (!this.waiting) return;
    this.waiting = false;
    if (this.inCall) {
      this.result = frame;
      return;
    }
    if (this.incoming) this.protocol.decodeResumed(frame);
    else this.protocol.encodeResumed(frame);
  }
  error(error: WebSocketError): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.protocol.fail(error);
  }
}

const EMPTY = Buffer.alloc(0);
/** The sink of a connection without extensions: never waiting, never called. */
const IDLE = new StageSink(null as unknown as WebSocketProtocol, false);

/** See the module comment. */
export class WebSocketProtocol {
  readonly role: 'client' | 'server';
  state: ProtocolState = ProtocolState.Open;
  /** Closing handshake progress (RFC 6455 §7.1.2–§7.1.4). */
  closeSent = false;
  closeReceived = false;
  sentCode: number | undefined = undefined;
  receivedCode: number = CloseCode.Abnormal;
  receivedReason = '';
  failure: WebSocketError | undefined = undefined;

  readonly parser: FrameParser;
  readonly writer: FrameWriter;
  /** Negotiated extensions (empty: the plain fast path). */
  readonly extensions: readonly Extension[];
  private readonly handler: ProtocolHandler;
  /** Outgoing fragmented message in progress (sendFrame). */
  private sendingMessage = false;
  /**
   * Sends go through `outQueue` (extensions, a send hook, or frames still
   * queued). False: frames go straight to the writer (the fast path).
   */
  private slow: boolean;
  private sendHook: SendFrameHook | null;
  private readonly maxPayload: number;
  private outQueue: QueuedFrame[] = emptyList();
  /** Extension results for each direction (`IDLE` with no extension: nothing to wait for). */
  private readonly encodeSink: StageSink;
  private readonly decodeSink: StageSink;
  /** The server must close the transport once the queue has drained. */
  private closeTransportPending = false;
  private disposed = false;
  // Assembly of decoded messages (extensions only).
  private asmText = false;
  /** The fragments of the decoded message in progress; null when none is. */
  private asmFragments: MessageAssembler | null = null;
  private asmUtf8: Utf8Validator | null = null;

  constructor(handler: ProtocolHandler, options: ProtocolOptions) {
    this.role = options.role;
    this.handler = handler;
    this.maxPayload = options.maxPayload;
    this.extensions = options.extensions !== undefined && options.extensions.length > 0 ? options.extensions : emptyList();
    this.sendHook = options.sendHook ?? null;
    this.parser = new FrameParser(this, { role: options.role, maxPayload: options.maxPayload });
    this.writer = new FrameWriter(options.role === 'client');
    this.encodeSink = this.decodeSink = IDLE;
    if (this.extensions.length > 0) {
      this.encodeSink = new StageSink(this, false);
      this.decodeSink = new StageSink(this, true);
      let rsv = 0;
      for (const e of this.extensions) rsv |= e.rsv;
      this.parser.allowedRsv = rsv;
      this.parser.extended = true;
      this.asmUtf8 = new Utf8Validator();
    }
    this.slow = this.extensions.length > 0 || this.sendHook !== null;
  }

  /**
   * Installs (or removes, with null) the hook on outgoing frames. Frames
   * already queued behind an extension will pass through the new hook.
   */
  setSendHook(hook: SendFrameHook | null): void {
    this.sendHook = hook;
    this.updateSlow();
  }

  private updateSlow(): void {
    this.slow = this.extensions.length > 0 || this.sendHook !== null || this.outQueue.length > 0;
  }

  // ---- input -------------------------------------------------------------

  /** Feeds bytes received from the transport. */
  receive(chunk: Buffer): void {
    this.parser.receive(chunk);
  }

  /**
   * The transport reached end of input or closed. Returns how the connection
   * ended; the state is Closed afterwards.
   */
  receiveEof(): CloseInfo {
    this.state = ProtocolState.Closed;
    this.parser.stop();
    if (this.extensions.length > 0 || this.outQueue.length > 0) this.dropQueue();
    return this.closeInfo();
  }

  /** Frees the extensions (once) and reports queued data as undelivered. */
  private dropQueue(): void {
    const queue = this.outQueue;
    this.outQueue = emptyList();
    this.encodeSink.waiting = false;
    this.decodeSink.waiting = false;
    if (!this.disposed) {
      this.disposed = true;
      for (const e of this.extensions) e.dispose();
    }
    const report = this.handler.onUndelivered;
    if (report === undefined) return;
    for (const f of queue) if (f.original !== null) report.call(this.handler, f.original);
  }

  /** How the connection ended (or would, if the transport closed now). */
  closeInfo(): CloseInfo {
    const info: CloseInfo = {
      code: this.closeReceived ? this.receivedCode : CloseCode.Abnormal,
      reason: this.closeReceived ? this.receivedReason : '',
      wasClean: this.closeSent && this.closeReceived && this.failure === undefined,
    };
    if (this.sentCode !== undefined) info.sentCode = this.sentCode;
    if (this.failure !== undefined) info.error = this.failure;
    return info;
  }

  /** Whether an extension is decoding a frame asynchronously (the parser waits for it). */
  get decoding(): boolean {
    return this.decodeSink.waiting;
  }

  /** Whether data may still be sent (no close frame sent yet). */
  get writable(): boolean {
    return !this.closeSent && this.state !== ProtocolState.Closed;
  }

  // ---- output ------------------------------------------------------------

  /** Whether output is queued. */
  get hasOutput(): boolean {
    return this.writer.pendingBytes > 0;
  }

  /** The queued output, in order (then the queue is empty). */
  takeOutput(): Buffer[] | null {
    return this.writer.take();
  }

  /**
   * Sends a text message, in frames of at most `fragmentSize` bytes if given.
   * Returns false (nothing queued) once a close frame was sent.
   */
  sendText(text: string, fragmentSize = 0): boolean {
    if (!this.writable || this.sendingMessage) return false;
    if (this.slow) {
      this.enqueue(Opcode.Text, true, 0, Buffer.from(text, 'utf8'), fragmentSize, text);
      return true;
    }
    const wasEmpty = this.writer.pendingBytes === 0;
    if (fragmentSize > 0 && text.length > fragmentSize / 3) {
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length > fragmentSize) {
        this.fragmentInto(Opcode.Text, bytes, fragmentSize);
        if (wasEmpty) this.handler.onOutput();
        return true;
      }
      this.writer.frame(0x80 | Opcode.Text, bytes);
    } else {
      this.writer.textFrame(0x80 | Opcode.Text, text);
    }
    if (wasEmpty) this.handler.onOutput();
    return true;
  }

  /**
   * Queues a complete, unmasked, uncompressed frame built elsewhere (once for
   * many connections, by a broadcast). Only a server with no extension or
   * send hook in play and no hand-fragmented message open can take it as is;
   * otherwise returns false and the caller sends the message normally.
   */
  sendPrepared(frame: Buffer): boolean {
    if (this.role !== 'server' || this.slow || this.sendingMessage || !this.writable) return false;
    const wasEmpty = this.writer.pendingBytes === 0;
    this.writer.raw(frame);
    if (wasEmpty) this.handler.onOutput();
    return true;
  }

  /** Sends a binary message (or a text message of UTF-8 bytes with `text`). */
  sendBinary(data: Buffer, fragmentSize = 0, text = false): boolean {
    if (!this.writable || this.sendingMessage) return false;
    const opcode = text ? Opcode.Text : Opcode.Binary;
    if (this.slow) {
      this.enqueue(opcode, true, 0, data, fragmentSize, data);
      return true;
    }
    const wasEmpty = this.writer.pendingBytes === 0;
    if (fragmentSize > 0 && data.length > fragmentSize) this.fragmentInto(opcode, data, fragmentSize);
    else this.writer.frame(0x80 | opcode, data);
    if (wasEmpty) this.handler.onOutput();
    return true;
  }

  private fragmentInto(opcode: number, data: Buffer, size: number): void {
    const n = data.length;
    for (let at = 0; at < n; at += size) {
      const end = at + size < n ? at + size : n;
      this.writer.frame((end === n ? 0x80 : 0) | (at === 0 ? opcode : Opcode.Continuation), data, at, end);
    }
  }

  /**
   * Sends one raw frame, for users who fragment by hand. Guarded so it cannot
   * break the protocol: control frames follow §5.5 (≤125 bytes, unfragmented)
   * and may go inside a fragmented message; a data frame must start a message
   * when none is open and continue it when one is.
   */
  sendFrame(frame: OutgoingFrame): WebSocketError | null {
    if (!this.writable) return new UsageError('the connection is closing: frame not sent', 'WS_ERR_NOT_DELIVERED');
    const payload = frame.payload ?? EMPTY;
    const op = frame.opcode;
    const wasSending = this.sendingMessage;
    if (op === Opcode.Close) return new UsageError('use close() to send a close frame', 'WS_ERR_INVALID_FRAME');
    if (op >= 0x8) {
      if (op > Opcode.Pong) return new UsageError(`reserved opcode ${op}`, 'WS_ERR_INVALID_FRAME');
      if (!frame.fin || payload.length > 125) {
        return new UsageError('control frames must be final and at most 125 bytes', 'WS_ERR_INVALID_FRAME');
      }
    } else if (op > Opcode.Binary) {
      return new UsageError(`reserved opcode ${op}`, 'WS_ERR_INVALID_FRAME');
    } else if (op === Opcode.Continuation) {
      if (!this.sendingMessage) return new UsageError('continuation frame with no message open', 'WS_ERR_INVALID_FRAME');
      this.sendingMessage = !frame.fin;
    } else {
      if (this.sendingMessage) {
        return new UsageError('a fragmented message is open: send continuation frames', 'WS_ERR_INVALID_FRAME');
      }
      this.sendingMessage = !frame.fin;
    }
    const rsv = (frame.rsv1 ? 0x40 : 0) | (frame.rsv2 ? 0x20 : 0) | (frame.rsv3 ? 0x10 : 0);
    if (this.slow) {
      let owned = 0;
      for (const e of this.extensions) owned |= e.rsv;
      if ((rsv & owned) !== 0) {
        // The bit belongs to a negotiated extension: setting it by hand would
        // make the peer decode data that was never encoded.
        if (op < 0x8) this.sendingMessage = wasSending;
        return new UsageError('an RSV bit used by a negotiated extension was set by hand', 'WS_ERR_INVALID_FRAME');
      }
      this.enqueue(op, frame.fin, rsv, payload, 0, op >= 0x8 ? null : payload);
      return null;
    }
    this.queueFrame((frame.fin ? 0x80 : 0) | rsv | op, payload);
    return null;
  }

  /** Sends a ping (RFC 6455 §5.5.2); payload at most 125 bytes. */
  ping(payload: Buffer = EMPTY): boolean {
    if (!this.writable || payload.length > 125) return false;
    this.queueFrame(0x80 | Opcode.Ping, payload);
    return true;
  }

  /** Sends an unsolicited pong (RFC 6455 §5.5.3, a unidirectional heartbeat). */
  pong(payload: Buffer = EMPTY): boolean {
    if (!this.writable || payload.length > 125) return false;
    this.queueFrame(0x80 | Opcode.Pong, payload);
    return true;
  }

  private queueFrame(b0: number, payload: Buffer): void {
    if (this.slow) {
      this.enqueue(b0 & 0x0f, (b0 & 0x80) !== 0, b0 & 0x70, payload, 0, null);
      return;
    }
    const wasEmpty = this.writer.pendingBytes === 0;
    this.writer.frame(b0, payload);
    if (wasEmpty) this.handler.onOutput();
  }

  // ---- slow path: extensions and the send hook ---------------------------

  private enqueue(
    opcode: number,
    fin: boolean,
    rsv: number,
    payload: Buffer,
    fragmentSize: number,
    original: string | Buffer | null,
  ): void {
    this.outQueue = append(this.outQueue, { opcode, fin, rsv, payload, fragmentSize, original });
    if (this.outQueue.length === 1) this.pump();
  }

  /** Encodes and writes queued frames in order until one waits for an extension. */
  private pump(): void {
    const queue = this.outQueue;
    const wasEmpty = this.writer.pendingBytes === 0;
    while (queue.length > 0 && !this.encodeSink.waiting) {
      const head = queue[0];
      if (head.opcode < 0x8 && this.extensions.length > 0) {
        const done = this.encodeFrom(head, 0);
        if (done === null) break; // an extension works asynchronously
        head.payload = done.payload;
        head.rsv = done.rsv;
      }
      this.emit(queue.shift()!);
    }
    if (wasEmpty && this.writer.pendingBytes > 0) this.handler.onOutput();
    if (queue.length === 0) {
      this.updateSlow();
      if (this.closeTransportPending) {
        this.closeTransportPending = false;
        this.handler.onCloseTransport();
      }
    }
  }

  /** Runs extensions `stage..` on an outgoing frame; null while one works asynchronously. */
  private encodeFrom(frame: ExtensionFrame, stage: number): ExtensionFrame | null {
    const exts = this.extensions;
    const sink = this.encodeSink;
    while (stage < exts.length) {
      sink.stage = stage;
      sink.waiting = true;
      sink.inCall = true;
      sink.result = null;
      try {
        exts[stage].encode(frame, sink);
      } catch (error) {
        this.extensionThrew(sink, exts[stage], 'encode', error);
        return null;
      }
      sink.inCall = false;
      if (sink.waiting) return null;
      if (sink.result === null) return null; // it failed the connection
      frame = sink.result;
      sink.result = null;
      stage++;
    }
    return frame;
  }

  /**
   * An extension's transform threw (a bug in it: the contract is to report
   * through the sink). The connection fails with 1011; the frame it was
   * given is not delivered (an outgoing one is reported as such).
   */
  private extensionThrew(sink: StageSink, extension: Extension, what: 'encode' | 'decode', error: unknown): void {
    sink.inCall = false;
    sink.waiting = false;
    sink.result = null;
    this.fail(new InternalError(`extension ${extension.name} threw in ${what}`, error));
  }

  /** @internal An extension finished encoding asynchronously. */
  encodeResumed(frame: ExtensionFrame): void {
    const queue = this.outQueue;
    if (queue.length === 0) return; // dropped (the connection ended)
    const done = this.encodeFrom(frame, this.encodeSink.stage + 1);
    if (done === null) return;
    const head = queue[0];
    head.payload = done.payload;
    head.rsv = done.rsv;
    const wasEmpty = this.writer.pendingBytes === 0;
    this.emit(queue.shift()!);
    if (wasEmpty && this.writer.pendingBytes > 0) this.handler.onOutput();
    this.pump();
  }

  /** Writes one (encoded) frame, split by `fragmentSize`, through the send hook. */
  private emit(f: QueuedFrame): void {
    const payload = f.payload;
    const n = payload.length;
    const size = f.fragmentSize;
    if (f.opcode < 0x8 && size > 0 && n > size) {
      for (let at = 0; at < n; at += size) {
        const end = at + size < n ? at + size : n;
        const last = end === n;
        const b0 = (last && f.fin ? 0x80 : 0) | (at === 0 ? f.rsv | f.opcode : Opcode.Continuation);
        this.writeWire(b0, payload, at, end);
      }
      return;
    }
    this.writeWire((f.fin ? 0x80 : 0) | f.rsv | f.opcode, payload, 0, n);
  }

  private writeWire(b0: number, payload: Buffer, start: number, end: number): void {
    const hook = this.sendHook;
    if (hook === null) {
      this.writer.frame(b0, payload, start, end);
      return;
    }
    const frame: Frame = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      payload: start === 0 && end === payload.length ? payload : payload.subarray(start, end),
    };
    const out = hook(frame) ?? frame;
    const b = (out.fin ? 0x80 : 0) | (out.rsv1 ? 0x40 : 0) | (out.rsv2 ? 0x20 : 0) | (out.rsv3 ? 0x10 : 0) | (out.opcode & 0x0f);
    this.writer.frame(b, out.payload);
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). `code` 1005 sends an
   * empty close frame. Returns false if a close frame was already sent.
   */
  close(code: number = CloseCode.Normal, reason = ''): boolean {
    if (this.closeSent || this.state === ProtocolState.Closed) return false;
    this.sendClose(code, reason);
    if (this.closeReceived && this.role === 'server') this.closeTransport();
    return true;
  }

  /** Asks the transport to close, once frames waiting for an extension are written. */
  private closeTransport(): void {
    if (this.outQueue.length > 0) this.closeTransportPending = true;
    else this.handler.onCloseTransport();
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): sends a close frame with the
   * error's code unless one was sent, discards further input, and asks the
   * transport to close (server) or to wait for the server's close (client).
   */
  fail(error: WebSocketError): void {
    if (this.state === ProtocolState.Closed || this.failure !== undefined) return;
    this.failure = error;
    this.parser.stop();
    // §7.1.7: the close frame goes out now, not behind queued messages.
    if (this.outQueue.length > 0) this.dropQueue();
    this.slow = this.sendHook !== null;
    if (!this.closeSent) {
      const code = isValidCloseCode(error.closeCode) ? error.closeCode : CloseCode.InternalError;
      this.sendClose(code, truncateReason(error.message));
    }
    this.handler.onFail(error);
    // §7.1.7 then §7.1.1: the server closes TCP now; a failing client still
    // waits for the server to close it (the transport's close timer bounds it).
    if (this.role === 'server') this.handler.onCloseTransport();
  }

  private sendClose(code: number, reason: string): void {
    this.closeSent = true;
    this.sentCode = code;
    this.state = ProtocolState.Closing;
    let payload = EMPTY;
    if (code !== CloseCode.NoStatus) {
      const len = Buffer.byteLength(reason);
      payload = Buffer.allocUnsafe(2 + len);
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
    }
    this.queueFrame(0x80 | Opcode.Close, payload);
  }

  // ---- ParserHandler -----------------------------------------------------

  /** @internal */
  onMessage(payload: Buffer, text: boolean, compressed: boolean): void {
    if (compressed) {
      // No extension here decodes RSV1 messages; the parser refuses RSV1
      // unless an extension allowed it, so this is a wiring bug.
      this.fail(new ProtocolError('compressed message with no extension to decode it', 'WS_ERR_UNEXPECTED_RSV'));
      return;
    }
    if (this.closeReceived) return;
    this.handler.onMessage(payload, text);
  }

  /** @internal */
  onControl(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Ping) {
      // RFC 6455 §5.5.2: answer with a pong carrying the same payload, unless
      // we already sent a close frame.
      if (!this.closeSent) this.queueFrame(0x80 | Opcode.Pong, payload);
      this.handler.onPing(payload);
    } else if (opcode === Opcode.Pong) {
      this.handler.onPong(payload);
    } else {
      this.receiveClose(payload);
    }
  }

  private receiveClose(payload: Buffer): void {
    // RFC 6455 §5.5.1: an optional 2-byte code, then an optional UTF-8 reason.
    let code: number = CloseCode.NoStatus;
    let reason = '';
    if (payload.length === 1) {
      return this.fail(new ProtocolError('close frame with a 1-byte payload', 'WS_ERR_INVALID_CLOSE'));
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) {
        return this.fail(new ProtocolError(`invalid close code ${code}`, 'WS_ERR_INVALID_CLOSE_CODE'));
      }
      if (payload.length > 2) {
        if (!isValidUtf8(payload, 2)) {
          return this.fail(new InvalidPayloadError('close reason is not valid UTF-8'));
        }
        reason = payload.toString('utf8', 2);
      }
    }
    this.closeReceived = true;
    this.receivedCode = code;
    this.receivedReason = reason;
    // RFC 6455 §1.4: after a close frame, no more data; ignore what follows.
    this.parser.stop();
    if (!this.closeSent) {
      // §5.5.1: echo the status code received.
      this.sendClose(code, '');
    }
    this.state = ProtocolState.Closing;
    this.handler.onCloseFrame(code, reason);
    // §7.1.1: the server closes the TCP connection first; a client waits.
    if (this.role === 'server') this.closeTransport();
  }

  /** @internal */
  onFrame(frame: Frame): void {
    this.handler.onFrame(frame);
  }

  /** @internal A data frame for the extensions to decode (in reverse order of the response). */
  onDataFrame(opcode: number, fin: boolean, rsv: number, payload: Buffer): void {
    if (this.closeReceived || this.failure !== undefined) return;
    this.decodeFrom({ opcode, fin, rsv, payload }, this.extensions.length - 1);
  }

  private decodeFrom(frame: ExtensionFrame, stage: number): void {
    const exts = this.extensions;
    const sink = this.decodeSink;
    while (stage >= 0) {
      sink.stage = stage;
      sink.waiting = true;
      sink.inCall = true;
      sink.result = null;
      try {
        exts[stage].decode(frame, sink);
      } catch (error) {
        this.extensionThrew(sink, exts[stage], 'decode', error);
        return;
      }
      sink.inCall = false;
      if (sink.waiting) {
        // Asynchronous: hold later frames (data and control) until it is done.
        this.parser.pause();
        return;
      }
      if (sink.result === null) return; // it failed the connection
      frame = sink.result;
      sink.result = null;
      stage--;
    }
    this.assemble(frame);
  }

  /** @internal An extension finished decoding asynchronously. */
  decodeResumed(frame: ExtensionFrame): void {
    if (this.state === ProtocolState.Closed || this.failure !== undefined) return;
    this.decodeFrom(frame, this.decodeSink.stage - 1);
    if (this.decodeSink.waiting || this.failure !== undefined) return;
    this.parser.resume();
    if (!this.parser.isPaused) this.handler.onInputResumed?.();
  }

  /** Assembles decoded frames into messages: size limit and UTF-8 on the decoded data. */
  private assemble(frame: ExtensionFrame): void {
    if (frame.rsv !== 0) {
      return this.fail(new ProtocolError('RSV bit set that no extension decoded', 'WS_ERR_UNEXPECTED_RSV'));
    }
    const payload = frame.payload;
    if (frame.opcode !== Opcode.Continuation) {
      this.asmText = frame.opcode === Opcode.Text;
      if (this.asmText) this.asmUtf8!.reset();
    }
    const fragments = this.asmFragments;
    const length = (fragments === null ? 0 : fragments.length) + payload.length;
    if (length > this.maxPayload) {
      return this.fail(new MessageTooBigError(`message of ${length} bytes exceeds the limit of ${this.maxPayload}`, this.maxPayload));
    }
    const text = this.asmText;
    if (text) {
      if (frame.fin && fragments === null) {
        if (!isValidUtf8(payload)) return this.fail(new InvalidPayloadError('invalid UTF-8 in a text message'));
      } else {
        if (!this.asmUtf8!.write(payload)) return this.fail(new InvalidPayloadError('invalid UTF-8 in a text message'));
        if (frame.fin && !this.asmUtf8!.complete) {
          return this.fail(new InvalidPayloadError('text message ends inside a UTF-8 sequence'));
        }
      }
    }
    if (!frame.fin) {
      (this.asmFragments ??= new MessageAssembler()).add(payload);
      return;
    }
    let message = payload;
    if (fragments !== null) {
      fragments.add(payload);
      message = fragments.take();
      this.asmFragments = null;
    }
    if (this.closeReceived) return;
    this.handler.onMessage(message, text);
  }

  /** @internal */
  onParseError(error: WebSocketError): void {
    this.fail(error);
  }
}

/** Close reasons are limited to 123 bytes (125 minus the code, §5.5); cut at a code point boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  const buf = Buffer.from(reason);
  let end = 123;
  while (end > 0 && !isValidUtf8(buf, 0, end)) end--;
  return buf.toString('utf8', 0, end);
}
