/**
 * `codec(...)`: typed messages in and out of a connection. A message that
 * fails to decode is reported, never thrown at the socket: by policy the
 * connection closes with 1007 (RFC 6455 §7.4.1: "data within a message that
 * was not consistent with the type of the message"), or the message is
 * skipped and reported on `errors$`.
 */
import { Observable, Observer, OperatorFunction, share, Subject } from '../rx';
import type { CloseInfo, Connection, WebSocketData } from '../connection';
import { CloseCode } from '../protocol/close-codes';
import { messageOf } from '../protocol/errors';
import { DecodeError, EncodeError } from './errors';
import { closed$ } from './internal';

/** Turns wire messages into `In` values and `Out` values into wire messages. */
export interface Codec<In, Out> {
  /** Decodes a received message (text as `string`, binary as `Buffer`). Throw to reject it. */
  decode(data: string | Buffer): In;
  /** Encodes a value to send: a `string` goes as text, bytes as binary. Throw to refuse it. */
  encode(value: Out): WebSocketData;
}

/** What a message that fails to decode does: close the connection with 1007, or skip it. */
export type DecodeErrorPolicy = 'close' | 'skip';

/** Settings of `codec`. */
export interface CodecConfig {
  /** Default `'close'`: close with 1007 and error `messages$` with the `DecodeError`. */
  onDecodeError?: DecodeErrorPolicy;
}

/** A connection seen through a codec. As an Observer, `next` encodes and sends. */
export interface CodecConnection<In, Out> extends Observer<Out> {
  /** The underlying connection. */
  readonly connection: Connection;
  /** Decoded messages. Ends as the connection's `messages$` does, or with a `DecodeError` under the `'close'` policy. */
  readonly messages$: Observable<In>;
  /** Every decode and encode failure, whatever the policy. Completes when the connection closes. */
  readonly errors$: Observable<DecodeError | EncodeError>;
  /** Resolves when the connection is over. */
  readonly closed: Promise<CloseInfo>;
  /** Encodes and sends; false (and a report on `errors$`) if encoding failed, false if not sent. */
  send(value: Out): boolean;
  /** Closes the connection (default 1000). */
  close(code?: number, reason?: string): void;
}

/**
 * Wraps each connection of the source in a typed view using `codec`.
 *
 * ```ts
 * const upper = codec<string, string>({
 *   decode: data => String(data).toLowerCase(),
 *   encode: value => value.toUpperCase(),
 * }, { onDecodeError: 'skip' });
 * listen(8080).pipe(upper).subscribe(c => c.messages$.subscribe(c)); // an uppercasing echo
 * ```
 */
export function codec<In, Out = In>(
  codec: Codec<In, Out>,
  config?: CodecConfig,
): OperatorFunction<Connection, CodecConnection<In, Out>> {
  const policy = config?.onDecodeError ?? 'close';
  return (source) =>
    new Observable<CodecConnection<In, Out>>((subscriber) =>
      source.subscribe({
        next: (conn) => subscriber.next(new TypedConnection(conn, codec, policy)),
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

class TypedConnection<In, Out> implements CodecConnection<In, Out> {
  readonly connection: Connection;
  readonly messages$: Observable<In>;
  readonly errors$: Observable<DecodeError | EncodeError>;
  private readonly errors = new Subject<DecodeError | EncodeError>();
  private readonly codec: Codec<In, Out>;

  constructor(conn: Connection, codec: Codec<In, Out>, policy: DecodeErrorPolicy) {
    this.connection = conn;
    this.codec = codec;
    this.errors$ = this.errors.asObservable();
    closed$(conn).subscribe(() => this.errors.complete());
    const errors = this.errors;
    this.messages$ = new Observable<In>((subscriber) =>
      conn.messages$.subscribe({
        next: (data) => {
          let value: In;
          try {
            value = codec.decode(data);
          } catch (cause) {
            const error = new DecodeError(
              `message could not be decoded: ${messageOf(cause)}`,
              data,
              cause,
            );
            errors.next(error);
            if (policy === 'close') {
              if (conn.isOpen) conn.close(CloseCode.InvalidPayload, 'message could not be decoded');
              subscriber.error(error);
            }
            return;
          }
          subscriber.next(value);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    ).pipe(share());
  }

  get closed(): Promise<CloseInfo> {
    return this.connection.closed;
  }

  send(value: Out): boolean {
    let data: WebSocketData;
    try {
      data = this.codec.encode(value);
    } catch (cause) {
      this.errors.next(
        new EncodeError(`value could not be encoded: ${messageOf(cause)}`, value, cause),
      );
      return false;
    }
    return this.connection.send(data);
  }

  next(value: Out): void {
    this.send(value);
  }

  error(err: unknown): void {
    this.connection.error(err);
  }

  complete(): void {
    this.connection.complete();
  }

  close(code?: number, reason?: string): void {
    this.connection.close(code, reason);
  }
}
