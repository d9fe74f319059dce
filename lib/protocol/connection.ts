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
  InvalidPayloadError,
  ProtocolError,
  UsageError,
  WebSocketError,
} from './errors';
import { Frame, FrameParser } from './frame-parser';
import { FrameWriter, OutgoingFrame } from './frame-writer';
import { isValidUtf8 } from './utf8';

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
}

/** Options of the core. */
export interface ProtocolOptions {
  role: 'client' | 'server';
  /** Largest incoming message in bytes (1009 above). */
  maxPayload: number;
}

const EMPTY = Buffer.alloc(0);

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
  private readonly handler: ProtocolHandler;
  /** Outgoing fragmented message in progress (sendFrame). */
  private sendingMessage = false;

  constructor(handler: ProtocolHandler, options: ProtocolOptions) {
    this.role = options.role;
    this.handler = handler;
    this.parser = new FrameParser(this, { role: options.role, maxPayload: options.maxPayload });
    this.writer = new FrameWriter(options.role === 'client');
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
    return this.closeInfo();
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

  /** Sends a binary message (or a text message of UTF-8 bytes with `text`). */
  sendBinary(data: Buffer, fragmentSize = 0, text = false): boolean {
    if (!this.writable || this.sendingMessage) return false;
    const wasEmpty = this.writer.pendingBytes === 0;
    const opcode = text ? Opcode.Text : Opcode.Binary;
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
    const b0 =
      (frame.fin ? 0x80 : 0) | (frame.rsv1 ? 0x40 : 0) | (frame.rsv2 ? 0x20 : 0) | (frame.rsv3 ? 0x10 : 0) | op;
    this.queueFrame(b0, payload);
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
    const wasEmpty = this.writer.pendingBytes === 0;
    this.writer.frame(b0, payload);
    if (wasEmpty) this.handler.onOutput();
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). `code` 1005 sends an
   * empty close frame. Returns false if a close frame was already sent.
   */
  close(code: number = CloseCode.Normal, reason = ''): boolean {
    if (this.closeSent || this.state === ProtocolState.Closed) return false;
    this.sendClose(code, reason);
    if (this.closeReceived && this.role === 'server') this.handler.onCloseTransport();
    return true;
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): sends a close frame with the
   * error's code unless one was sent, discards further input, and asks the
   * transport to close.
   */
  fail(error: WebSocketError): void {
    if (this.state === ProtocolState.Closed || this.failure !== undefined) return;
    this.failure = error;
    this.parser.stop();
    if (!this.closeSent) {
      const code = isValidCloseCode(error.closeCode) ? error.closeCode : CloseCode.InternalError;
      this.sendClose(code, truncateReason(error.message));
    }
    this.handler.onFail(error);
    this.handler.onCloseTransport();
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
    if (this.role === 'server') this.handler.onCloseTransport();
  }

  /** @internal */
  onFrame(frame: Frame): void {
    this.handler.onFrame(frame);
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
