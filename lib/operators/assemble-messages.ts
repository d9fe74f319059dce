/**
 * `assembleMessages()`: the inverse of `fragment`, rebuilding messages from
 * frames (`conn.frames$`), as fastwebsockets `FragmentCollector` does.
 */
import { isUtf8 } from 'node:buffer';
import { Observable, OperatorFunction } from '../rx';
import type { Frame, OutgoingFrame } from '../connection';
import { MessageTooBigError, InvalidPayloadError, ProtocolError } from '../protocol/errors';
import { MessageAssembler } from '../protocol/assembler';
import { Opcode } from '../protocol/opcodes';
import { decodeMessageText } from '../protocol/utf8';

/** Settings of `assembleMessages`. */
export interface AssembleConfig {
  /** Largest message in bytes; a bigger one errors with `MessageTooBigError`. Default: no limit. */
  maxPayload?: number;
}

/**
 * Rebuilds messages from a stream of frames: text as `string`, binary as
 * `Buffer`. Control frames (ping, pong, close) are skipped: they may come
 * between fragments (RFC 6455 §5.4) and are not part of any message.
 *
 * Errors with a `ProtocolError` for frames out of order (a continuation with
 * no message open, a new message inside an open one) or with RSV bits set
 * (compressed frames: read `messages$` instead), with an
 * `InvalidPayloadError` for text that is not UTF-8 (§8.1), and with a
 * `MessageTooBigError` past `maxPayload`.
 *
 * ```ts
 * conn.frames$.pipe(assembleMessages()).subscribe(message => console.log(message));
 * ```
 */
export function assembleMessages(config?: AssembleConfig): OperatorFunction<Frame | OutgoingFrame, string | Buffer> {
  const maxPayload = config?.maxPayload ?? Infinity;
  return (source) =>
    new Observable<string | Buffer>((subscriber) => {
      const parts = new MessageAssembler();
      let opcode = -1;
      return source.subscribe({
        next: (frame) => {
          const op = frame.opcode;
          if (op >= 0x8) return;
          if (frame.rsv1 || frame.rsv2 || frame.rsv3) {
            subscriber.error(new ProtocolError('frame with RSV bits set: an extension must decode it', 'WS_ERR_UNEXPECTED_RSV'));
            return;
          }
          if (op === Opcode.Continuation) {
            if (opcode < 0) {
              subscriber.error(new ProtocolError('continuation frame with no message open', 'WS_ERR_INVALID_CONTINUATION'));
              return;
            }
          } else if (opcode >= 0) {
            subscriber.error(new ProtocolError('new message inside a fragmented one', 'WS_ERR_EXPECTED_CONTINUATION'));
            return;
          } else if (op === Opcode.Text || op === Opcode.Binary) {
            opcode = op;
          } else {
            subscriber.error(new ProtocolError(`reserved opcode ${op}`, 'WS_ERR_INVALID_OPCODE'));
            return;
          }
          const payload = frame.payload ?? Buffer.alloc(0);
          if (parts.length + payload.length > maxPayload) {
            subscriber.error(new MessageTooBigError(`message over ${maxPayload} bytes`, maxPayload));
            return;
          }
          let data = payload; // a message in one frame
          if (op === Opcode.Continuation || !frame.fin) {
            parts.add(payload);
            if (!frame.fin) return;
            data = parts.take();
          }
          const text = opcode === Opcode.Text;
          opcode = -1;
          if (text) {
            if (!isUtf8(data)) {
              subscriber.error(new InvalidPayloadError('text message is not valid UTF-8'));
              return;
            }
            const decoded = decodeMessageText(data);
            if (typeof decoded === 'string') subscriber.next(decoded);
            else subscriber.error(decoded);
          } else subscriber.next(data);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
