/**
 * `json<In, Out>()`: the JSON codec. Messages in are parsed (text, or binary
 * as UTF-8), values out are sent as text.
 */
import type { OperatorFunction } from '../rx';
import type { Connection } from '../connection';
import { codec, CodecConfig, CodecConnection } from './codec';

/** Settings of `json`. */
export interface JsonConfig<In> extends CodecConfig {
  /** Runtime check of decoded values (a type guard); a value it refuses is a decode error. */
  validate?: (value: unknown) => value is In;
  /** `JSON.parse` reviver. */
  reviver?: (this: unknown, key: string, value: unknown) => unknown;
  /** `JSON.stringify` replacer. */
  replacer?: (this: unknown, key: string, value: unknown) => unknown;
}

/**
 * Typed JSON messages: `In` received, `Out` sent. A message that is not JSON
 * (or fails `validate`) closes the connection with 1007, or with
 * `onDecodeError: 'skip'` is dropped and reported on `errors$`. A value that
 * cannot be stringified (`undefined`, a cycle, a BigInt) is not sent and is
 * reported on `errors$`.
 *
 * ```ts
 * type Msg = { type: 'chat'; text: string };
 * listen(8080).pipe(json<Msg, Msg>()).subscribe(c => c.messages$.subscribe(c)); // a JSON echo
 * ```
 */
export function json<In = unknown, Out = In>(config?: JsonConfig<In>): OperatorFunction<Connection, CodecConnection<In, Out>> {
  const validate = config?.validate;
  const reviver = config?.reviver;
  const replacer = config?.replacer;
  return codec<In, Out>(
    {
      decode(data) {
        const value: unknown = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'), reviver);
        if (validate !== undefined && !validate(value)) throw new TypeError('message failed validation');
        return value as In;
      },
      encode(value) {
        const text = JSON.stringify(value, replacer);
        if (text === undefined) throw new TypeError('value has no JSON form');
        return text;
      },
    },
    config,
  );
}
