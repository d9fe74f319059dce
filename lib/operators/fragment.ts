/**
 * `fragment(size)`: outgoing messages as frames of at most `size` payload
 * bytes (RFC 6455 §5.4), for frame-level senders (`conn.sendFrame`).
 */
import { Observable, OperatorFunction } from '../rx';
import { toBuffer } from '../connection';
import type { OutgoingFrame, WebSocketData } from '../connection';
import { Opcode } from '../protocol/opcodes';

/** Settings of `fragment`. */
export interface FragmentConfig {
  /** Largest payload per frame, in bytes (at least 1). */
  size: number;
  /** Send strings as binary messages (their UTF-8 bytes). Default: strings go as text. */
  binary?: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits each message into frames of at most `size` payload bytes: the first
 * carries the opcode (text for strings, binary for bytes), the rest are
 * continuations, and the last has FIN set (RFC 6455 §5.4). Payloads are views
 * of the message, not copies. A UTF-8 sequence may straddle two frames: the
 * receiver validates the whole message (§5.6, §8.1).
 *
 * ```ts
 * from(['a long message']).pipe(fragment(4)).subscribe(f => conn.sendFrame(f));
 * ```
 *
 * @throws RangeError for a size below 1.
 */
export function fragment(sizeOrConfig: number | FragmentConfig): OperatorFunction<WebSocketData, OutgoingFrame> {
  const config = typeof sizeOrConfig === 'number' ? { size: sizeOrConfig } : sizeOrConfig;
  const size = config.size;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`fragment size must be a positive integer, got ${size}`);
  const asBinary = config.binary === true;
  return (source) =>
    new Observable<OutgoingFrame>((subscriber) =>
      source.subscribe({
        next: (data) => {
          const text = typeof data === 'string' && !asBinary;
          const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
          const n = payload.length;
          if (n === 0) {
            subscriber.next({ fin: true, opcode: text ? Opcode.Text : Opcode.Binary, payload: EMPTY });
            return;
          }
          for (let at = 0; at < n && !subscriber.closed; at += size) {
            const end = Math.min(at + size, n);
            subscriber.next({
              fin: end === n,
              opcode: at === 0 ? (text ? Opcode.Text : Opcode.Binary) : Opcode.Continuation,
              payload: payload.subarray(at, end),
            });
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
