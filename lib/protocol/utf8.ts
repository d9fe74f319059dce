/**
 * UTF-8 validation, whole and incremental (RFC 6455 §8.1, RFC 3629).
 *
 * Text messages are checked per fragment, and inside a frame per chunk as it
 * arrives, so an invalid sequence fails the connection as soon as its first
 * impossible byte is seen ("fail fast", Autobahn 6.4.x), not when the message
 * ends. Bulk checks go to Node's native `buffer.isUtf8`; a small DFA handles
 * the up-to-3-byte sequences that straddle chunk boundaries (tungstenite
 * `StringCollector`).
 *
 * `decodeText` turns a validated message into its string, by the fastest of
 * three equivalent paths for its length and content.
 */
import * as nodeBuffer from 'node:buffer';
import { constants, isUtf8 } from 'node:buffer';
import { MessageTooBigError, messageOf } from './errors';

/** `buffer.isAscii` (Node 18.15 / 19.6; simdutf); undefined on older versions. */
const isAscii: ((input: Uint8Array) => boolean) | undefined = (nodeBuffer as { isAscii?: (input: Uint8Array) => boolean }).isAscii;

/**
 * `buffer.transcode` (ICU), if this Node has it and it converts UTF-8 to
 * UTF-16 as V8 decodes it (checked once: a build without ICU has no converter).
 */
const toUtf16: ((input: Uint8Array) => Buffer) | null = (() => {
  const transcode = (nodeBuffer as { transcode?: (b: Uint8Array, from: string, to: string) => Buffer }).transcode;
  if (typeof transcode !== 'function') return null;
  try {
    const sample = '\ufeffa\u00e9\u2713\u{1f600}';
    if (transcode(Buffer.from(sample), 'utf8', 'utf16le').toString('utf16le') !== sample) return null;
  } catch {
    return null;
  }
  return (input) => transcode(input, 'utf8', 'utf16le');
})();

/** Messages at least this long are checked for ASCII before they are decoded (below it the check costs more than it saves). */
const ASCII_PROBE = 1024;
/** Non-ASCII messages at least this long are decoded through UTF-16 (below it V8's decoder is as fast). */
const TRANSCODE_MIN = 4096;

/** @internal Which fast paths of `decodeText` this Node has (for the tests). */
export const decodeTextPaths = { ascii: isAscii !== undefined, utf16: toUtf16 !== null };

/**
 * The string a message of valid UTF-8 holds, as `buf.toString('utf8')` gives
 * it, only faster for long messages. Node 20's V8 decodes UTF-8 a byte at a
 * time once it meets a non-ASCII byte, and copies more slowly than Latin-1
 * even when every byte is ASCII. So, measured on this machine:
 * - an ASCII message (most JSON) is checked with `buffer.isAscii` (one SIMD
 *   pass) and decoded as Latin-1, which gives the same string: 64 KiB in
 *   11.6 µs instead of 17.4, 1 MiB in 0.2 ms instead of 1.26 (Latin-1 strings
 *   that long are external, not copied into the heap);
 * - a longer non-ASCII message goes through ICU's UTF-8 to UTF-16 converter
 *   and becomes a two-byte string: 64 KiB of mixed Latin, symbols and CJK in
 *   75 µs instead of 306, of `é` in 38 µs instead of 434.
 * Only for valid UTF-8 (the caller has checked it): on invalid input the
 * paths would differ in where they put U+FFFD.
 */
export function decodeText(buf: Buffer): string {
  const n = buf.length;
  if (n >= ASCII_PROBE) {
    if (isAscii !== undefined && isAscii(buf)) return buf.toString('latin1');
    if (n >= TRANSCODE_MIN && toUtf16 !== null) return toUtf16(buf).toString('utf16le');
  }
  return buf.toString('utf8');
}

/**
 * `decodeText`, or a `MessageTooBigError` (1009) for a text that cannot be a
 * string: V8 strings hold at most `buffer.constants.MAX_STRING_LENGTH` UTF-16
 * units (2^29 - 24 on 64-bit Node), which only a `maxPayload` above that lets
 * through. Decoding throws then; uncaught, it would end the process.
 */
export function decodeMessageText(buf: Buffer): string | MessageTooBigError {
  try {
    return decodeText(buf);
  } catch (error) {
    return new MessageTooBigError(
      `text message of ${buf.length} bytes does not fit in a JavaScript string (${constants.MAX_STRING_LENGTH} UTF-16 units at most): ${messageOf(error)}`,
      constants.MAX_STRING_LENGTH,
    );
  }
}

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
