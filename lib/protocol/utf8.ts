/**
 * UTF-8 validation, whole and incremental (RFC 6455 §8.1, RFC 3629).
 *
 * Text messages are checked per fragment, and inside a frame per chunk as it
 * arrives, so an invalid sequence fails the connection as soon as its first
 * impossible byte is seen ("fail fast", Autobahn 6.4.x), not when the message
 * ends. Bulk checks go to Node's native `buffer.isUtf8`; a small DFA handles
 * the up-to-3-byte sequences that straddle chunk boundaries (tungstenite
 * `StringCollector`).
 */
import { isUtf8 } from 'node:buffer';

// Björn Höhrmann's DFA ("Flexible and Economical UTF-8 Decoder"). The first
// 256 entries map a byte to a character class; the rest map (state + class)
// to the next state. States are multiples of 12: 0 accepts, 12 rejects.
const UTF8D = new Uint8Array([
  // 0x00..0x7f: class 0
  ...new Array(128).fill(0),
  // 0x80..0x8f: 1, 0x90..0x9f: 9, 0xa0..0xbf: 7
  ...new Array(16).fill(1),
  ...new Array(16).fill(9),
  ...new Array(32).fill(7),
  // 0xc0, 0xc1: 8 (overlong), 0xc2..0xdf: 2
  8, 8,
  ...new Array(30).fill(2),
  // 0xe0: 10, 0xe1..0xec: 3, 0xed: 4 (surrogates follow), 0xee..0xef: 3
  10,
  ...new Array(12).fill(3),
  4, 3, 3,
  // 0xf0: 11, 0xf1..0xf3: 6, 0xf4: 5, 0xf5..0xff: 8
  11, 6, 6, 6, 5,
  ...new Array(11).fill(8),
  // transitions
  0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
  12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12, 12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
  12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
]);

const ACCEPT = 0;
const REJECT = 12;

/** Whether `buf[start, end)` is complete, valid UTF-8. */
export function isValidUtf8(buf: Buffer, start = 0, end = buf.length): boolean {
  if (end - start < 16) {
    let state = ACCEPT;
    for (let i = start; i < end; i++) {
      state = UTF8D[256 + state + UTF8D[buf[i]]];
      if (state === REJECT) return false;
    }
    return state === ACCEPT;
  }
  return isUtf8(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
}

/**
 * Incremental validator for one message: feed it each piece as it arrives;
 * `write` returns false at the first piece that holds an impossible byte.
 * `complete` tells whether the bytes so far end on a code point boundary.
 */
export class Utf8Validator {
  private state = ACCEPT;

  /** Resets for a new message. */
  reset(): void {
    this.state = ACCEPT;
  }

  /** Whether no sequence is left open (the message may end here). */
  get complete(): boolean {
    return this.state === ACCEPT;
  }

  /** Feeds `buf[start, end)`; false once the input can no longer be UTF-8. */
  write(buf: Buffer, start = 0, end = buf.length): boolean {
    let state = this.state;
    let i = start;
    // Finish a sequence left open by the previous piece (at most 3 bytes).
    while (state !== ACCEPT && i < end) {
      state = UTF8D[256 + state + UTF8D[buf[i++]]];
      if (state === REJECT) {
        this.state = REJECT;
        return false;
      }
    }
    if (end - i >= 16) {
      // Find the last code point boundary within the final 4 bytes: after
      // an ASCII byte, or before a lead byte. Everything before it goes to
      // the native validator; the (possibly incomplete) rest to the DFA.
      let boundary = -1;
      for (let j = end - 1; j >= end - 4 && j >= i; j--) {
        const b = buf[j];
        if (b < 0x80) {
          boundary = j + 1;
          break;
        }
        if (b >= 0xc0) {
          boundary = j;
          break;
        }
      }
      if (boundary > i) {
        if (!isUtf8(buf.subarray(i, boundary))) {
          this.state = REJECT;
          return false;
        }
        i = boundary;
      }
    }
    for (; i < end; i++) {
      state = UTF8D[256 + state + UTF8D[buf[i]]];
      if (state === REJECT) {
        this.state = REJECT;
        return false;
      }
    }
    this.state = state;
    return true;
  }
}
