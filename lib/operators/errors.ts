/**
 * Typed errors raised by the operators (STYLE.md "Errors": a stable `code`
 * and the `closeCode` the error closes a connection with).
 */
import { InvalidPayloadError, TimeoutError, WebSocketError } from '../protocol/errors';

/**
 * No pong came within `timeout` after a heartbeat ping: the connection was
 * failed with 1011 (python-websockets `keepalive()`: "keepalive ping timeout").
 */
export class HeartbeatTimeoutError extends TimeoutError {
  /** Milliseconds waited for the pong. */
  readonly timeout: number;
  constructor(timeout: number) {
    super(`no pong within ${timeout} ms of a heartbeat ping`, 'WS_ERR_HEARTBEAT_TIMEOUT', 1011);
    this.timeout = timeout;
  }
}

/** A message could not be decoded by a codec: closes with 1007 (RFC 6455 §7.4.1, inconsistent data). */
export class DecodeError extends InvalidPayloadError {
  /** The raw message that failed to decode. */
  readonly data: string | Buffer;
  constructor(message: string, data: string | Buffer, cause?: unknown) {
    super(message, 'WS_ERR_DECODE');
    this.data = data;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** A message could not be encoded by a codec; it was not sent. */
export class EncodeError extends WebSocketError {
  /** The value that failed to encode. */
  readonly value: unknown;
  constructor(message: string, value: unknown, cause?: unknown) {
    super(message, 'WS_ERR_ENCODE', 1011);
    this.value = value;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** The outbox of a `reconnecting` handle overflowed with the `'error'` policy. */
export class OutboxOverflowError extends WebSocketError {
  /** The outbox limit, in messages. */
  readonly limit: number;
  constructor(limit: number) {
    super(`outbox full (${limit} messages)`, 'WS_ERR_OUTBOX_OVERFLOW', 1008);
    this.limit = limit;
  }
}

/** `reconnect` gave up: `maxRetries` consecutive attempts failed. The last failure is `cause`. */
export class ReconnectExhaustedError extends WebSocketError {
  /** Attempts made after the first connection. */
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(
      `gave up reconnecting after ${attempts} ${attempts === 1 ? 'retry' : 'retries'}${cause instanceof Error ? `: ${cause.message}` : ''}`,
      'WS_ERR_RECONNECT_EXHAUSTED',
      cause instanceof WebSocketError ? cause.closeCode : 1006,
    );
    this.attempts = attempts;
    (this as { cause?: unknown }).cause = cause;
  }
}
