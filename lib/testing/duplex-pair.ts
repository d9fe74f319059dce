/**
 * Two connected in-memory Node `Duplex` streams (ws `test/duplex-pair.js`):
 * what one writes, the other reads, with stream backpressure (a write waits
 * while the reader's buffer is full), FIN on `end()` and an EOF for the peer
 * when one side is destroyed, as a TCP reset would give.
 */
import { Duplex } from 'node:stream';

/** Settings of `duplexPair`. */
export interface DuplexPairOptions {
  /** Readable buffer size (bytes) of each side before writes to it wait. Default 16 KiB. */
  highWaterMark?: number;
}

class MemoryDuplex extends Duplex {
  peer!: MemoryDuplex;
  /** The peer's write waiting for room in this side's read buffer. */
  private blockedWrite: (() => void) | null = null;
  private eofPushed = false;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    // Bytes written to a closed peer are lost, as on a reset TCP connection.
    if (peer.destroyed || peer.eofPushed) return callback();
    if (peer.push(chunk)) callback();
    else peer.blockedWrite = () => callback();
  }

  override _read(): void {
    this.releaseWriter();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.pushEof();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.releaseWriter();
    this.peer.pushEof();
    this.peer.releaseWriter();
    callback(error);
  }

  private pushEof(): void {
    if (this.eofPushed || this.destroyed) return;
    this.eofPushed = true;
    this.push(null);
  }

  private releaseWriter(): void {
    const release = this.blockedWrite;
    if (release !== null) {
      this.blockedWrite = null;
      release();
    }
  }
}

/**
 * Returns two connected in-memory duplex streams.
 *
 * ```ts
 * const [a, b] = duplexPair();
 * b.on('data', chunk => console.log(String(chunk)));
 * a.write('hello');
 * ```
 */
export function duplexPair(options?: DuplexPairOptions): [Duplex, Duplex] {
  const highWaterMark = options?.highWaterMark ?? 16 * 1024;
  const a = new MemoryDuplex({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  const b = new MemoryDuplex({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
