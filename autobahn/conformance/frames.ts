/**
 * Hand-rolled RFC 6455 frame builder / parser used by the conformance suite.
 *
 * This module is deliberately independent of the library under test: it is an
 * oracle. The builder can produce *any* frame, including invalid ones (reserved
 * opcodes, RSV bits, oversized control frames, non-minimal length encodings,
 * unmasked client frames, lying length fields ...). The parser is incremental
 * and reports what the server sent back without judging it; semantic checks
 * (is this frame legal for a server to send?) live in `session.ts`.
 *
 * @packageDocumentation
 */

import { randomBytes, createHash } from 'node:crypto';

/** Opcodes defined by RFC 6455 (everything else is reserved). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** The GUID appended to `Sec-WebSocket-Key` when computing `Sec-WebSocket-Accept`. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Bytes or a string (strings are encoded as UTF-8). */
export type Bytes = Buffer | Uint8Array | string;

/** Convert {@link Bytes} to a Buffer (strings are UTF-8 encoded). */
export function toBuffer(data: Bytes | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Build a buffer from hex, e.g. `hex('ce ba e1')`. Whitespace is ignored. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/**
 * Repeat `pattern` until the result is exactly `length` bytes long
 * (Autobahn's `payload_len` semantics).
 */
export function repeatToLength(pattern: Bytes, length: number): Buffer {
  const p = toBuffer(pattern);
  if (length === 0) return Buffer.alloc(0);
  if (p.length === 0) throw new Error('repeatToLength: empty pattern');
  const out = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) off += p.copy(out, off, 0, Math.min(p.length, length - off));
  return out;
}

/** Options for {@link buildFrame}. Every field may be set to an invalid value on purpose. */
export interface FrameSpec {
  /** 4-bit opcode (0..15). Reserved values are allowed. */
  opcode: number;
  /** Payload (unmasked). Default: empty. */
  payload?: Bytes;
  /** FIN bit. Default: `true`. */
  fin?: boolean;
  /**
   * RSV bits as a 3-bit number using Autobahn's convention: the value is shifted
   * into bits 4..6 of the first octet, i.e. 4 = RSV1, 2 = RSV2, 1 = RSV3.
   */
  rsv?: number;
  /** Apply a client mask (MASK bit + masking key). Default: `true`. */
  mask?: boolean;
  /** The 4-byte masking key. Default: random. */
  maskKey?: Buffer;
  /**
   * Force the width of the length field: 7 (payload <= 125 only), 16 or 64 bits.
   * `'auto'` (default) uses the minimal encoding, as RFC 6455 requires.
   */
  lengthEncoding?: 'auto' | 7 | 16 | 64;
  /** Lie about the payload length in the header (the real payload is still appended). */
  declaredLength?: number;
}

/** Encode a frame header (without masking key) for the given parameters. */
function encodeHeader(
  fin: boolean,
  rsv: number,
  opcode: number,
  masked: boolean,
  length: number,
  enc: 'auto' | 7 | 16 | 64,
): Buffer {
  let width: 7 | 16 | 64;
  if (enc === 'auto') width = length <= 125 ? 7 : length <= 0xffff ? 16 : 64;
  else width = enc;
  if (width === 7 && length > 125) throw new Error('7-bit length field cannot hold ' + length);
  if (width === 16 && length > 0xffff) throw new Error('16-bit length field cannot hold ' + length);
  const hdrLen = width === 7 ? 2 : width === 16 ? 4 : 10;
  const h = Buffer.alloc(hdrLen);
  h[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  const m = masked ? 0x80 : 0;
  if (width === 7) h[1] = m | length;
  else if (width === 16) {
    h[1] = m | 126;
    h.writeUInt16BE(length, 2);
  } else {
    h[1] = m | 127;
    h.writeBigUInt64BE(BigInt(length), 2);
  }
  return h;
}

/** XOR `data` with a 4-byte mask, starting at mask offset `offset`. Returns a new buffer. */
export function applyMask(data: Buffer, mask: Buffer, offset = 0): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] ^ mask[(i + offset) & 3];
  return out;
}

/**
 * Build one WebSocket frame, byte for byte, from a {@link FrameSpec}.
 *
 * @example
 * ```ts
 * buildFrame({ opcode: Opcode.TEXT, payload: 'Hello', rsv: 4 }); // RSV1 set
 * buildFrame({ opcode: 3 });                                     // reserved opcode
 * buildFrame({ opcode: Opcode.PING, payload: Buffer.alloc(126) }); // oversized control frame
 * ```
 */
export function buildFrame(spec: FrameSpec): Buffer {
  const payload = toBuffer(spec.payload);
  const masked = spec.mask !== false;
  const declared = spec.declaredLength ?? payload.length;
  const header = encodeHeader(spec.fin !== false, spec.rsv ?? 0, spec.opcode, masked, declared, spec.lengthEncoding ?? 'auto');
  if (!masked) return Buffer.concat([header, payload]);
  const key = spec.maskKey ?? randomBytes(4);
  if (key.length !== 4) throw new Error('masking key must be 4 bytes');
  return Buffer.concat([header, key, applyMask(payload, key)]);
}

/**
 * Split a message payload into data frames of at most `fragmentSize` bytes
 * (Autobahn's `sendMessage(..., fragmentSize)`): first frame carries `opcode`,
 * the rest are continuation frames; FIN only on the last one. An empty payload
 * yields a single frame.
 */
export function fragmentMessage(opcode: number, payload: Bytes, fragmentSize: number, extra: Partial<FrameSpec> = {}): FrameSpec[] {
  const p = toBuffer(payload);
  if (!(fragmentSize > 0) || p.length <= fragmentSize) return [{ ...extra, opcode, payload: p, fin: true }];
  const frames: FrameSpec[] = [];
  for (let off = 0; off < p.length; off += fragmentSize) {
    const end = Math.min(off + fragmentSize, p.length);
    frames.push({ ...extra, opcode: off === 0 ? opcode : Opcode.CONTINUATION, payload: p.subarray(off, end), fin: end === p.length });
  }
  return frames;
}

/** Build a close-frame payload: optional 2-byte code followed by an optional (raw) reason. */
export function closePayload(code?: number, reason?: Bytes): Buffer {
  const parts: Buffer[] = [];
  if (code !== undefined) {
    const c = Buffer.alloc(2);
    c.writeUInt16BE(code & 0xffff, 0);
    parts.push(c);
  }
  if (reason !== undefined) parts.push(toBuffer(reason));
  return Buffer.concat(parts);
}

/** Compute `Sec-WebSocket-Accept` for a given `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** A random, valid `Sec-WebSocket-Key` (16 random bytes, base64). */
export function randomKey(): string {
  return randomBytes(16).toString('base64');
}

/** One frame as it arrived from the server. */
export interface ParsedFrame {
  fin: boolean;
  /** RSV bits (same convention as {@link FrameSpec.rsv}: 4 = RSV1, 2 = RSV2, 1 = RSV3). */
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey?: Buffer;
  /** Unmasked payload. */
  payload: Buffer;
  /** Width of the length field actually used on the wire. */
  lengthWidth: 7 | 16 | 64;
  /** True if the length was not encoded with the minimal number of bytes (RFC 6455 5.2 MUST). */
  nonMinimalLength: boolean;
}

/** Raised by {@link FrameParser} when the byte stream cannot be framed at all. */
export class FramingError extends Error {}

/**
 * Incremental parser for frames sent by the server. Feed it TCP chunks with
 * {@link FrameParser.push}; it returns every complete frame. It never judges
 * legality except for what makes framing impossible (64-bit length with the
 * most significant bit set, or a payload above `maxPayload`).
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** @param maxPayload refuse frames larger than this (default 64 MiB) */
  constructor(private readonly maxPayload = 64 * 1024 * 1024) {}

  /** Bytes currently buffered (an incomplete frame). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    const b = Buffer.concat(this.chunks);
    this.chunks = [b];
    return b;
  }

  private take(n: number): Buffer {
    const b = this.peek(n);
    const out = b.subarray(0, n);
    if (b.length === n) this.chunks.shift();
    else this.chunks[0] = b.subarray(n);
    this.buffered -= n;
    return out;
  }

  /**
   * Add bytes and return all frames completed by them.
   * @throws FramingError if the stream is unframeable
   */
  push(chunk: Buffer): ParsedFrame[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: ParsedFrame[] = [];
    for (;;) {
      if (this.buffered < 2) break;
      const h = this.peek(2);
      const b0 = h[0];
      const b1 = h[1];
      const masked = (b1 & 0x80) !== 0;
      const len7 = b1 & 0x7f;
      let hdr = 2;
      if (len7 === 126) hdr += 2;
      else if (len7 === 127) hdr += 8;
      if (masked) hdr += 4;
      if (this.buffered < hdr) break;
      const hb = this.peek(hdr);
      let length: number;
      let width: 7 | 16 | 64 = 7;
      let nonMinimal = false;
      if (len7 === 126) {
        width = 16;
        length = hb.readUInt16BE(2);
        nonMinimal = length <= 125;
      } else if (len7 === 127) {
        width = 64;
        const big = hb.readBigUInt64BE(2);
        if (big >> 63n) throw new FramingError('64-bit payload length with most significant bit set');
        if (big > BigInt(this.maxPayload)) throw new FramingError(`frame payload too large (${big} bytes)`);
        length = Number(big);
        nonMinimal = length <= 0xffff;
      } else length = len7;
      if (length > this.maxPayload) throw new FramingError(`frame payload too large (${length} bytes)`);
      if (this.buffered < hdr + length) break;
      const whole = this.take(hdr + length);
      const maskKey = masked ? Buffer.from(whole.subarray(hdr - 4, hdr)) : undefined;
      let payload: Buffer = Buffer.from(whole.subarray(hdr));
      if (maskKey) payload = applyMask(payload, maskKey);
      frames.push({
        fin: (b0 & 0x80) !== 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0f,
        masked,
        maskKey,
        payload,
        lengthWidth: width,
        nonMinimalLength: nonMinimal,
      });
    }
    return frames;
  }
}

// --- UTF-8 ------------------------------------------------------------------

// Bjoern Hoehrmann's DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/), as used by Autobahn.
const UTF8_DFA = [
  // byte -> character class
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
  10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 11, 6, 6, 6, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  // state transitions
  0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
  12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12, 12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
  12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
];
const UTF8_ACCEPT = 0;
const UTF8_REJECT = 12;

/**
 * Incremental UTF-8 validator (same semantics as Autobahn's `Utf8Validator`):
 * rejects overlong forms, surrogates, code points above U+10FFFF and
 * 5/6-byte sequences.
 */
export class Utf8Validator {
  private state = UTF8_ACCEPT;
  /** Total octets consumed so far. */
  consumed = 0;

  /** Reset to the initial state. */
  reset(): void {
    this.state = UTF8_ACCEPT;
    this.consumed = 0;
  }

  /**
   * Feed more bytes.
   * @returns `valid`: no error so far; `endsOnCodePoint`: currently at a code point boundary;
   *          `errorOffset`: index into `data` of the offending byte when invalid.
   */
  validate(data: Buffer): { valid: boolean; endsOnCodePoint: boolean; errorOffset: number } {
    let s = this.state;
    for (let i = 0; i < data.length; i++) {
      s = UTF8_DFA[256 + s + UTF8_DFA[data[i]]];
      if (s === UTF8_REJECT) {
        this.state = s;
        this.consumed += i + 1;
        return { valid: false, endsOnCodePoint: false, errorOffset: i };
      }
    }
    this.state = s;
    this.consumed += data.length;
    return { valid: true, endsOnCodePoint: s === UTF8_ACCEPT, errorOffset: -1 };
  }
}

/** True iff `data` is a complete, valid UTF-8 string. */
export function isValidUtf8(data: Buffer): boolean {
  const v = new Utf8Validator();
  const r = v.validate(data);
  return r.valid && r.endsOnCodePoint;
}

/**
 * RFC 6455 section 7.4 + IANA registry: may this close code appear on the wire?
 * 1000-1003, 1007-1014 and 3000-4999 are valid; 1004/1005/1006/1015, other
 * 1xxx/2xxx values, <1000 and >=5000 are not.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Printable, length-limited description of a payload for reports. */
export function describePayload(p: Buffer, max = 48): string {
  const printable = p.length > 0 && p.every((b) => b >= 0x20 && b < 0x7f);
  const head = p.subarray(0, max);
  const body = printable ? JSON.stringify(head.toString('latin1')) : '0x' + head.toString('hex');
  return p.length > max ? `${body}... (${p.length} bytes)` : `${body} (${p.length} bytes)`;
}
