/**
 * Incremental frame parser and message assembler (RFC 6455 §5).
 *
 * Bytes go in with `receive(chunk)` in any split; frames and messages come out
 * through a handler, synchronously, in order. The parser is a numeric-state
 * `switch` loop (ws `Receiver#startLoop`); "need more bytes" is a state, not an
 * exception. Chunks are kept as a list plus a byte count; a payload that lies
 * within one chunk is taken as a zero-copy `subarray` and unmasked in place,
 * and only payloads that straddle chunks are copied, once, into a buffer of
 * the frame's known length (ws `Receiver#consume`). Above RESERVE_LIMIT that
 * buffer grows with what has arrived instead, so that a header alone cannot
 * make the parser reserve `maxPayload` bytes.
 *
 * Every rule violation fails the parser with a typed error carrying the close
 * code to send; after that all input is discarded. Nothing here throws.
 */
import { Opcode } from './opcodes';
import { MessageTooBigError, ProtocolError, InvalidPayloadError, WebSocketError } from './errors';
import { applyMask } from './mask';
import { MessageAssembler } from './assembler';
import { isValidUtf8, Utf8Validator } from './utf8';

/** A frame as received (payload unmasked), for frame-level users. */
export interface Frame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  payload: Buffer;
}

/** What the parser reports. Called synchronously from `receive`. */
export interface ParserHandler {
  /** A complete data message. `compressed`: its first frame had RSV1 set (an extension decodes it). */
  onMessage(payload: Buffer, text: boolean, compressed: boolean): void;
  /** A control frame (close, ping or pong), validated for length and fragmentation. */
  onControl(opcode: number, payload: Buffer): void;
  /** Every frame, before it is assembled; only while `emitFrames` is set. */
  onFrame(frame: Frame): void;
  /**
   * A data frame, unassembled, while `extended` is set (negotiated extensions
   * decode frames before they are assembled). `rsv` holds the header's RSV
   * bits (0x70 mask). May call `pause()` to decode asynchronously.
   */
  onDataFrame?(opcode: number, fin: boolean, rsv: number, payload: Buffer): void;
  /** The peer broke the protocol; input is discarded from now on. */
  onParseError(error: WebSocketError): void;
}

/** Parser settings. */
export interface ParserOptions {
  /** 'server' expects masked frames, 'client' unmasked ones (RFC 6455 §5.1). */
  role: 'client' | 'server';
  /** Largest message, in bytes, before 1009 (checked before buffering). */
  maxPayload: number;
  /** RSV bits that negotiated extensions allow (0x40 RSV1, 0x20 RSV2, 0x10 RSV3). */
  allowedRsv?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * @internal A frame that straddles chunks gets its whole buffer at once up to
 * this length. A longer one starts with this much (or what has arrived, if
 * more) and grows fourfold as bytes come: a peer has to send a quarter of
 * what it makes the parser hold, and the bytes copied again on growing add up
 * to less than 4/3 of the frame. Without the limit, a 14-byte header and one byte of payload
 * reserved 64 MiB (the default `maxPayload`) per connection.
 */
export const RESERVE_LIMIT = 256 * 1024;
const GROWTH = 4;

const enum State {
  Header,
  Length16,
  Length64,
  MaskKey,
  Payload,
}

/** The incremental frame parser. See the module comment. */
export class FrameParser {
  /** When set, `onFrame` is called for every frame. */
  emitFrames = false;
  /** RSV bits extensions may set (RFC 6455 §5.2: "MUST be 0 unless an extension ..."). */
  allowedRsv: number;
  /**
   * When set, data frames go to `onDataFrame` one by one instead of being
   * assembled here, and text is not UTF-8-checked here (extensions transform
   * the payload first; the caller checks the decoded text).
   */
  extended = false;
  maxPayload: number;

  private readonly handler: ParserHandler;
  private readonly expectMask: boolean;
  private chunks: Buffer[] = [];
  private offset = 0;
  private buffered = 0;
  private state = State.Header;
  private paused = false;
  private stopped = false;
  private looping = false;

  // Current frame.
  private fin = false;
  private rsv = 0;
  private opcode = 0;
  private masked = false;
  private maskKey = 0;
  private payloadLength = 0;
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private partialValidated = false;

  // Current message.
  private messageOpcode = 0;
  private messageCompressed = false;
  private messageLength = 0;
  /** The fragments of the message in progress; null when none is. */
  private assembler: MessageAssembler | null = null;
  private readonly utf8 = new Utf8Validator();
  private utf8Active = false;

  constructor(handler: ParserHandler, options: ParserOptions) {
    this.handler = handler;
    this.expectMask = options.role === 'server';
    this.maxPayload = options.maxPayload;
    this.allowedRsv = options.allowedRsv ?? 0;
  }

  /** Bytes received but not yet parsed. */
  get bufferedAmount(): number {
    return this.buffered;
  }

  /** Feeds bytes from the transport. */
  receive(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (!this.paused && !this.looping) this.loop();
  }

  /** Whether `pause()` is in effect. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops parsing after the current frame (an extension decodes asynchronously). */
  pause(): void {
    this.paused = true;
  }

  /** Continues parsing buffered bytes after `pause()`. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.stopped && !this.looping) this.loop();
  }

  /** Discards all buffered and future input (after a close frame or a failure). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
    this.assembler = null;
    this.partial = null;
  }

  /** Whether a fragmented data message is in progress (sender side checks use this too). */
  get inMessage(): boolean {
    return this.messageOpcode !== 0;
  }

  private fail(error: WebSocketError): void {
    this.stop();
    this.handler.onParseError(error);
  }

  private loop(): void {
    this.looping = true;
    try {
      while (!this.paused && !this.stopped) {
        switch (this.state) {
          case State.Header:
            if (this.buffered < 2) return;
            this.readHeader();
            break;
          case State.Length16:
            if (this.buffered < 2) return;
            this.payloadLength = (this.byte() << 8) | this.byte();
            this.afterLength();
            break;
          case State.Length64: {
            if (this.buffered < 8) return;
            const hi = ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
            const lo = ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
            // RFC 6455 §5.2: "the most significant bit MUST be 0".
            if (hi & 0x80000000) {
              this.fail(new ProtocolError('invalid 64-bit payload length (top bit set)', 'WS_ERR_INVALID_LENGTH'));
              return;
            }
            this.payloadLength = hi * 0x100000000 + lo;
            this.afterLength();
            break;
          }
          case State.MaskKey:
            if (this.buffered < 4) return;
            this.maskKey = ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
            this.state = State.Payload;
            break;
          case State.Payload:
            if (!this.readPayload()) return;
            break;
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private byte(): number {
    const chunk = this.chunks[0];
    const b = chunk[this.offset++];
    this.buffered--;
    if (this.offset === chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    return b;
  }

  /** Takes `n` buffered bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const chunk = this.chunks[0];
    const available = chunk.length - this.offset;
    if (n <= available) {
      this.buffered -= n;
      const start = this.offset;
      if (n === available) {
        this.chunks.shift();
        this.offset = 0;
        return start === 0 ? chunk : chunk.subarray(start);
      }
      this.offset += n;
      return chunk.subarray(start, start + n);
    }
    const out = Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    return out;
  }

  /** Moves `n` buffered bytes into `dst[at...]`. */
  private copyInto(dst: Buffer, at: number, n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const chunk = this.chunks[0];
      const available = chunk.length - this.offset;
      const k = n < available ? n : available;
      chunk.copy(dst, at, this.offset, this.offset + k);
      at += k;
      n -= k;
      if (k === available) {
        this.chunks.shift();
        this.offset = 0;
      } else {
        this.offset += k;
      }
    }
  }

  private readHeader(): void {
    const b0 = this.byte();
    const b1 = this.byte();
    const opcode = b0 & 0x0f;
    const rsv = b0 & 0x70;
    this.fin = (b0 & 0x80) !== 0;
    this.rsv = rsv;
    this.opcode = opcode;
    this.masked = (b1 & 0x80) !== 0;
    const len = b1 & 0x7f;

    if (opcode >= 0x8) {
      // RFC 6455 §5.5: control frames.
      if (opcode > Opcode.Pong) {
        return this.fail(new ProtocolError(`reserved control opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE'));
      }
      if (rsv !== 0) {
        return this.fail(new ProtocolError('RSV bit set on a control frame', 'WS_ERR_UNEXPECTED_RSV'));
      }
      if (!this.fin) {
        return this.fail(new ProtocolError('fragmented control frame', 'WS_ERR_FRAGMENTED_CONTROL'));
      }
      if (len > 125) {
        return this.fail(new ProtocolError('control frame payload over 125 bytes', 'WS_ERR_CONTROL_TOO_LONG'));
      }
    } else {
      if (opcode > Opcode.Binary) {
        return this.fail(new ProtocolError(`reserved data opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE'));
      }
      if ((rsv & ~this.allowedRsv) !== 0) {
        return this.fail(new ProtocolError('RSV bit set with no extension negotiated for it', 'WS_ERR_UNEXPECTED_RSV'));
      }
      if (opcode === Opcode.Continuation) {
        if (this.messageOpcode === 0) {
          return this.fail(new ProtocolError('continuation frame with no message to continue', 'WS_ERR_UNEXPECTED_CONTINUATION'));
        }
        // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
        if (rsv & 0x40) {
          return this.fail(new ProtocolError('RSV1 set on a continuation frame', 'WS_ERR_UNEXPECTED_RSV'));
        }
      } else if (this.messageOpcode !== 0) {
        return this.fail(new ProtocolError('new data frame inside a fragmented message', 'WS_ERR_EXPECTED_CONTINUATION'));
      }
    }
    // RFC 6455 §5.1: clients mask, servers do not.
    if (this.masked !== this.expectMask) {
      return this.fail(
        this.expectMask
          ? new ProtocolError('unmasked frame from a client', 'WS_ERR_EXPECTED_MASK')
          : new ProtocolError('masked frame from a server', 'WS_ERR_UNEXPECTED_MASK'),
      );
    }
    if (len === 126) this.state = State.Length16;
    else if (len === 127) this.state = State.Length64;
    else {
      this.payloadLength = len;
      this.afterLength();
    }
  }

  private afterLength(): void {
    const opcode = this.opcode;
    if (opcode < 0x8) {
      if (opcode !== Opcode.Continuation) {
        this.messageOpcode = opcode;
        this.messageCompressed = (this.rsv & 0x40) !== 0;
        this.messageLength = 0;
        this.utf8Active = opcode === Opcode.Text && !this.messageCompressed && !this.extended;
        if (this.utf8Active) this.utf8.reset();
      }
      // Refuse before buffering anything (RFC 6455 §10.4).
      if (this.messageLength + this.payloadLength > this.maxPayload) {
        return this.fail(
          new MessageTooBigError(
            `message of at least ${this.messageLength + this.payloadLength} bytes exceeds the limit of ${this.maxPayload}`,
            this.maxPayload,
          ),
        );
      }
    }
    this.state = this.masked ? State.MaskKey : State.Payload;
    if (!this.masked) this.maskKey = 0;
  }

  /** Returns false when it needs more bytes. */
  private readPayload(): boolean {
    const length = this.payloadLength;
    let payload: Buffer;
    if (this.partial !== null) {
      let partial = this.partial;
      const filled = this.partialFilled;
      const want = length - filled;
      const n = this.buffered < want ? this.buffered : want;
      if (n === 0) return false;
      if (filled + n > partial.length) {
        // Past RESERVE_LIMIT: grow (at most to the frame's length).
        const size = Math.min(length, Math.max(filled + n, partial.length * GROWTH));
        const grown = Buffer.allocUnsafe(size);
        partial.copy(grown, 0, 0, filled);
        this.partial = partial = grown;
      }
      this.copyInto(partial, filled, n);
      applyMask(partial, filled, filled + n, this.maskKey, filled);
      this.partialFilled = filled + n;
      if (!this.validatePiece(partial, filled, filled + n)) return false;
      if (this.partialFilled < length) return false;
      payload = partial;
      this.partial = null;
    } else if (length === 0) {
      payload = EMPTY;
      this.partialValidated = false;
    } else if (this.buffered >= length) {
      payload = this.take(length);
      applyMask(payload, 0, length, this.maskKey, 0);
      this.partialValidated = false;
    } else {
      if (this.buffered === 0) return false;
      // The frame straddles chunks: collect it into one buffer of its final
      // size (up to RESERVE_LIMIT; above, one that grows), unmasking and
      // validating each piece as it comes (fail fast).
      const n = this.buffered;
      const partial = Buffer.allocUnsafe(length <= RESERVE_LIMIT ? length : Math.max(n, RESERVE_LIMIT));
      this.copyInto(partial, 0, n);
      applyMask(partial, 0, n, this.maskKey, 0);
      this.partial = partial;
      this.partialFilled = n;
      this.partialValidated = true;
      this.validatePiece(partial, 0, n);
      return false;
    }
    this.state = State.Header;
    this.dispatch(payload);
    return true;
  }

  /** Incremental UTF-8 check of a piece of a text frame still arriving. */
  private validatePiece(buf: Buffer, start: number, end: number): boolean {
    if (this.opcode >= 0x8 || !this.utf8Active) return true;
    if (!this.utf8.write(buf, start, end)) {
      this.fail(new InvalidPayloadError('invalid UTF-8 in a text message'));
      return false;
    }
    return true;
  }

  private dispatch(payload: Buffer): void {
    const opcode = this.opcode;
    const validated = this.partialValidated;
    this.partialValidated = false;
    // UTF-8 first, so that a frame the connection fails on is never reported
    // as received, however the bytes were chunked.
    if (opcode < 0x8 && this.utf8Active) {
      if (this.fin && this.assembler === null && !validated) {
        if (!isValidUtf8(payload)) {
          return this.fail(new InvalidPayloadError('invalid UTF-8 in a text message'));
        }
      } else {
        if (!validated && !this.utf8.write(payload)) {
          return this.fail(new InvalidPayloadError('invalid UTF-8 in a text message'));
        }
        if (this.fin && !this.utf8.complete) {
          return this.fail(new InvalidPayloadError('text message ends inside a UTF-8 sequence'));
        }
      }
    }
    if (this.emitFrames) {
      const rsv = this.rsv;
      this.handler.onFrame({
        fin: this.fin,
        rsv1: (rsv & 0x40) !== 0,
        rsv2: (rsv & 0x20) !== 0,
        rsv3: (rsv & 0x10) !== 0,
        opcode,
        payload,
      });
      if (this.stopped) return;
    }
    if (opcode >= 0x8) {
      this.handler.onControl(opcode, payload);
      return;
    }
    if (this.extended) {
      // Extensions decode frame by frame; the caller assembles.
      const fin = this.fin;
      if (fin) {
        this.messageOpcode = 0;
        this.messageLength = 0;
        this.messageCompressed = false;
      } else this.messageLength += payload.length;
      this.handler.onDataFrame!(opcode, fin, this.rsv, payload);
      return;
    }
    if (!this.fin) {
      (this.assembler ??= new MessageAssembler()).add(payload);
      this.messageLength += payload.length;
      return;
    }
    let message = payload;
    const assembler = this.assembler;
    if (assembler !== null) {
      assembler.add(payload);
      message = assembler.take();
      this.assembler = null;
    }
    const text = this.messageOpcode === Opcode.Text;
    const compressed = this.messageCompressed;
    this.messageOpcode = 0;
    this.messageLength = 0;
    this.messageCompressed = false;
    this.utf8Active = false;
    this.handler.onMessage(message, text, compressed);
  }
}
