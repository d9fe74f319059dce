/**
 * One typed error hierarchy for everything that can go wrong on a WebSocket
 * (STYLE.md "Errors"; ws `createError(..., 1002, 'WS_ERR_INVALID_OPCODE')`,
 * tungstenite `src/error.rs`).
 *
 * Every error carries a stable `code` string (safe to switch on) and, when the
 * error ends a connection, the `closeCode` that was (or will be) sent.
 */

/** Base class of every error ws-rx raises or reports. */
export class WebSocketError extends Error {
  /** Stable machine-readable identifier, e.g. `WS_ERR_INVALID_OPCODE`. */
  readonly code: string;
  /** Close code this error closes the connection with (RFC 6455 §7.4). */
  readonly closeCode: number;

  constructor(message: string, code = 'WS_ERR', closeCode = 1011) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The peer broke RFC 6455 framing rules: closes with 1002. */
export class ProtocolError extends WebSocketError {
  constructor(message: string, code = 'WS_ERR_PROTOCOL') {
    super(message, code, 1002);
  }
}

/** A text message or close reason was not valid UTF-8, or data could not be decoded: 1007. */
export class InvalidPayloadError extends WebSocketError {
  constructor(message: string, code = 'WS_ERR_INVALID_UTF8') {
    super(message, code, 1007);
  }
}

/** A message broke an application policy: 1008. */
export class PolicyViolationError extends WebSocketError {
  constructor(message: string, code = 'WS_ERR_POLICY_VIOLATION') {
    super(message, code, 1008);
  }
}

/** A message exceeded the configured maximum size: 1009. */
export class MessageTooBigError extends WebSocketError {
  /** The configured limit, in bytes. */
  readonly limit: number;
  constructor(message: string, limit: number) {
    super(message, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    this.limit = limit;
  }
}

/**
 * The opening handshake failed. `status` is the HTTP status the server sent
 * (client side) or will send (server side); 0 when no HTTP response exists
 * (a socket error or timeout before one arrived).
 */
export class HandshakeError extends WebSocketError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    message: string,
    status: number,
    code = 'WS_ERR_HANDSHAKE',
    headers: Record<string, string> = {},
  ) {
    // 1006: the connection never opened; 1015 is reserved for TLS failures.
    super(message, code, 1006);
    this.status = status;
    this.headers = headers;
  }
}

/** The message of whatever was thrown: an Error's `message`, else the value as a string. */
export function messageOf(thrown: unknown): string {
  return thrown instanceof Error ? thrown.message : String(thrown);
}

/**
 * Something threw while a connection handled its input: code running inside
 * it (a custom extension's `decode`) or a resource failure. Only this
 * connection fails, with 1011 (`WS_ERR_INTERNAL`); `cause` is what was thrown,
 * and the message is `context` and the cause's message.
 */
export class InternalError extends WebSocketError {
  constructor(context: string, cause: unknown) {
    super(`${context}: ${messageOf(cause)}`, 'WS_ERR_INTERNAL', 1011);
    (this as { cause?: unknown }).cause = cause;
  }
}

/** Something did not happen in time (handshake, closing handshake, pong). */
export class TimeoutError extends WebSocketError {
  constructor(message: string, code = 'WS_ERR_TIMEOUT', closeCode = 1006) {
    super(message, code, closeCode);
  }
}

/**
 * The connection ended other than by a normal close (python-websockets
 * `ConnectionClosedError`): the peer closed with a code outside 1000/1001/1005,
 * or the transport dropped without a closing handshake (1006).
 */
export class ConnectionClosedError extends WebSocketError {
  /** The reason the peer gave in its close frame ('' if none). */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
  constructor(closeCode: number, reason: string, wasClean: boolean, message?: string) {
    super(
      message ?? `connection closed with ${closeCode}${reason ? `: ${reason}` : ''}`,
      closeCode === 1006 ? 'WS_ERR_CONNECTION_LOST' : 'WS_ERR_CONNECTION_CLOSED',
      closeCode,
    );
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/**
 * Data handed to a connection after it closed, or left unsent when it
 * dropped (tungstenite `AlreadyClosed`): it was not delivered.
 */
export class NotDeliveredError extends WebSocketError {
  constructor(message = 'the connection is closed: data not delivered') {
    super(message, 'WS_ERR_NOT_DELIVERED', 1006);
  }
}

/** The caller used the API in a way that cannot work (bad argument, bad state). */
export class UsageError extends WebSocketError {
  constructor(message: string, code = 'WS_ERR_USAGE') {
    super(message, code, 1011);
  }
}
