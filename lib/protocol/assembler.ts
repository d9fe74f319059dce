/**
 * The bytes of a fragmented message (RFC 6455 §5.4), gathered as its frames
 * arrive.
 *
 * A list with one Buffer per fragment costs about 100 bytes of objects per
 * fragment, and a view keeps alive the whole chunk it lies in. So a peer that
 * sent one-byte continuation frames made a server hold 16 times what it sent,
 * whatever `maxPayload` said. 100 MB of them took an echo server from 158 MB
 * to 1.76 GB (ws likewise), and a few hundred MB more would end the process.
 *
 * Here a fragment is kept by reference only when it is large (LARGE bytes or
 * more) and fills at least half of the memory it lies in. Anything else is
 * copied into segments, each as big as the bytes copied since the last
 * fragment kept by reference, so they double along a run of small fragments.
 * So a message holds less than about twice its bytes and a few objects per
 * LARGE bytes, and large fragments are copied once, at the end, as before.
 */
import { append, emptyList } from './lists';

/** Fragments at least this big that fill half their memory are kept, not copied. */
export const LARGE = 4096;
/** The smallest segment (allocated from Node's Buffer pool). */
const SEGMENT = 1024;
const EMPTY = Buffer.alloc(0);

export class MessageAssembler {
  /** Bytes added so far. */
  length = 0;
  private parts: Buffer[] = emptyList();
  private open: Buffer | null = null;
  private filled = 0;
  /** Bytes copied since the last fragment kept by reference (the next segment's size). */
  private run = 0;

  /** Adds the next fragment's payload. The caller checks the total against its limit first. */
  add(payload: Buffer): void {
    const n = payload.length;
    if (n === 0) return;
    this.length += n;
    if (n >= LARGE && 2 * n >= payload.buffer.byteLength) {
      this.close();
      this.run = 0;
      this.parts = append(this.parts, payload);
      return;
    }
    let at = 0;
    while (at < n) {
      let open = this.open;
      if (open === null || this.filled === open.length) {
        this.close();
        const size = Math.max(SEGMENT, this.run, n - at);
        open = this.open = Buffer.allocUnsafe(size);
      }
      const k = Math.min(n - at, open.length - this.filled);
      payload.copy(open, this.filled, at, at + k);
      this.filled += k;
      this.run += k;
      at += k;
    }
  }

  /** The whole message, as one Buffer; the assembler is empty again. */
  take(): Buffer {
    let message: Buffer;
    if (this.parts.length === 0) {
      message = this.open === null ? EMPTY : this.open.subarray(0, this.filled);
    } else {
      this.close();
      const parts = this.parts;
      message = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.length);
    }
    this.reset();
    return message;
  }

  /** Drops what was added. */
  reset(): void {
    this.length = 0;
    this.parts = emptyList();
    this.open = null;
    this.filled = 0;
    this.run = 0;
  }

  /** Ends the open segment (its unused end is given up). */
  private close(): void {
    if (this.open !== null && this.filled > 0) this.parts = append(this.parts, this.open.subarray(0, this.filled));
    this.open = null;
    this.filled = 0;
  }
}
