/**
 * Frame writer (RFC 6455 §5.2): turns messages into wire bytes.
 *
 * Frames are written straight into a shared slab (like Node's Buffer pool):
 * each connection appends header and payload to the slab's free tail and
 * hands out one contiguous view per flush, so a burst of small frames costs
 * one copy and one `write`, not a Buffer per frame plus a concat. Large
 * payloads from a server are not copied at all: the header goes into the slab
 * and the payload is queued by reference, to go out with `writev`
 * (fastwebsockets `writev_threshold`). Client frames are masked with a key from
 * a pooled random buffer (RFC 6455 §5.3).
 *
 * A slab is never rewound: a view handed to the socket stays valid until the
 * socket is done with it, and the slab is garbage once every view is.
 */
import { append, emptyList } from './lists';
import { applyMask, randomMaskKey } from './mask';

const SLAB_SIZE = 64 * 1024;
/** Payloads at least this big (server side) are queued by reference, not copied. */
const COPY_THRESHOLD = 16 * 1024;
/** Strings up to this many UTF-16 units are encoded straight into the slab. */
const STRING_SLAB_LIMIT = (SLAB_SIZE - 14) / 3;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabPos = 0;

/**
 * UTF-8 encoding into the slab. `buf.utf8Write(string, offset, length)` is
 * what `buf.write(string, offset)` calls after sorting out its optional
 * arguments (undocumented, on every Buffer since Node 0.x); calling it
 * directly skips that wrapper, about 15 ns of a 64-character text frame.
 * `buf.write` where it is missing.
 */
type Utf8Write = (this: Buffer, text: string, offset: number, length: number) => number;
const utf8Write: Utf8Write =
  (Buffer.prototype as Buffer & { utf8Write?: Utf8Write }).utf8Write ??
  function (this: Buffer, text: string, offset: number, length: number): number {
    return this.write(text, offset, length, 'utf8');
  };

/** A frame to write. `payload` defaults to empty. */
export interface OutgoingFrame {
  fin: boolean;
  opcode: number;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  payload?: Buffer;
}

/** Size of a frame header for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header at `buf[at]` and returns the payload offset. `key` is
 * the masking key (ignored unless `masked`).
 */
export function writeHeader(
  buf: Buffer,
  at: number,
  b0: number,
  length: number,
  masked: boolean,
  key: number,
): number {
  buf[at] = b0;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) {
    buf[at + 1] = maskBit | length;
    at += 2;
  } else if (length < 0x10000) {
    buf[at + 1] = maskBit | 126;
    buf[at + 2] = length >>> 8;
    buf[at + 3] = length & 0xff;
    at += 4;
  } else {
    buf[at + 1] = maskBit | 127;
    const hi = Math.floor(length / 0x100000000);
    buf.writeUInt32BE(hi, at + 2);
    buf.writeUInt32BE(length >>> 0, at + 6);
    at += 10;
  }
  if (masked) {
    buf.writeUInt32BE(key, at);
    at += 4;
  }
  return at;
}

/** Per-connection output queue. `take()` returns what to write, in order. */
export class FrameWriter {
  /** Bytes queued and not yet taken. */
  pendingBytes = 0;
  private readonly masked: boolean;
  /** Output before the open segment (most flushes have one segment: `[segment]`, exact size). */
  private out: Buffer[] = emptyList();
  private segSlab: Buffer | null = null;
  private segStart = 0;
  private segEnd = 0;

  /** `masked`: the client role (RFC 6455 §5.3). */
  constructor(masked: boolean) {
    this.masked = masked;
  }

  /** Whether anything is queued. */
  get hasOutput(): boolean {
    return this.pendingBytes > 0;
  }

  /** Queues a frame with `payload[start, end)`. */
  frame(b0: number, payload: Buffer, start = 0, end = payload.length): void {
    const length = end - start;
    const masked = this.masked;
    const key = masked ? randomMaskKey() : 0;
    const hsize = headerSize(length, masked);
    const total = hsize + length;
    this.pendingBytes += total;
    if (!masked && length >= COPY_THRESHOLD) {
      const at = this.reserve(hsize);
      writeHeader(slab, at, b0, length, false, 0);
      this.closeSegment();
      this.out = append(this.out, start === 0 && end === payload.length ? payload : payload.subarray(start, end));
      return;
    }
    if (total > SLAB_SIZE) {
      const buf = Buffer.allocUnsafe(total);
      const p = writeHeader(buf, 0, b0, length, masked, key);
      payload.copy(buf, p, start, end);
      if (masked) applyMask(buf, p, total, key, 0);
      this.closeSegment();
      this.out = append(this.out, buf);
      return;
    }
    const at = this.reserve(total);
    const p = writeHeader(slab, at, b0, length, masked, key);
    payload.copy(slab, p, start, end);
    if (masked) applyMask(slab, p, p + length, key, 0);
  }

  /** Queues a frame whose payload is the UTF-8 encoding of `text`. */
  textFrame(b0: number, text: string): void {
    const n = text.length;
    if (n > STRING_SLAB_LIMIT) {
      this.frame(b0, Buffer.from(text, 'utf8'));
      return;
    }
    const masked = this.masked;
    // The header size depends on the byte length. UTF-8 takes between 1 and
    // 3 bytes per UTF-16 unit, so the header size is known without a scan
    // unless the bounds straddle a length class (RFC 6455 §5.2 requires the
    // minimal length encoding).
    let hsize: number;
    let exact = -1;
    if (n * 3 < 126) hsize = 2;
    else if (n >= 126 && n * 3 < 0x10000) hsize = 4;
    else {
      exact = Buffer.byteLength(text, 'utf8');
      hsize = exact < 126 ? 2 : exact < 0x10000 ? 4 : 10;
    }
    if (masked) hsize += 4;
    const at = this.reserve(hsize + n * 3);
    const p = at + hsize;
    const length = utf8Write.call(slab, text, p, SLAB_SIZE - p);
    this.release(p + length);
    const key = masked ? randomMaskKey() : 0;
    writeHeader(slab, at, b0, length, masked, key);
    if (masked) applyMask(slab, p, p + length, key, 0);
    this.pendingBytes += hsize + length;
  }

  /**
   * Queues bytes that already form complete frames (a broadcast frame built
   * once for many connections): small ones are copied into the slab with the
   * rest of the burst, large ones are queued by reference.
   */
  raw(bytes: Buffer): void {
    const n = bytes.length;
    this.pendingBytes += n;
    if (n >= COPY_THRESHOLD) {
      this.closeSegment();
      this.out = append(this.out, bytes);
      return;
    }
    bytes.copy(slab, this.reserve(n));
  }

  /** Returns the queued output (in order) and empties the queue; null if none. */
  take(): Buffer[] | null {
    if (this.pendingBytes === 0) return null;
    this.closeSegment();
    const out = this.out;
    this.out = emptyList();
    this.pendingBytes = 0;
    return out;
  }

  /** Drops queued output (the transport is gone). Returns the bytes dropped. */
  discard(): number {
    const n = this.pendingBytes;
    this.out = emptyList();
    this.segSlab = null;
    this.pendingBytes = 0;
    return n;
  }

  /** Reserves `n` (at most SLAB_SIZE) contiguous bytes at the end of this connection's segment. */
  private reserve(n: number): number {
    if (this.segSlab === slab && this.segEnd === slabPos && slabPos + n <= SLAB_SIZE) {
      const at = slabPos;
      slabPos += n;
      this.segEnd = slabPos;
      return at;
    }
    this.closeSegment();
    if (slabPos + n > SLAB_SIZE) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      slabPos = 0;
    }
    this.segSlab = slab;
    this.segStart = slabPos;
    slabPos += n;
    this.segEnd = slabPos;
    return this.segStart;
  }

  /** Gives back the unused end of the last reservation. */
  private release(end: number): void {
    slabPos = end;
    this.segEnd = end;
  }

  private closeSegment(): void {
    if (this.segSlab !== null && this.segEnd > this.segStart) {
      this.out = append(this.out, this.segSlab.subarray(this.segStart, this.segEnd));
    }
    this.segSlab = null;
    this.segStart = this.segEnd = 0;
  }
}
