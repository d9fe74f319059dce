/**
 * Close codes (RFC 6455 §7.4).
 */

/** Named close codes (RFC 6455 §7.4.1, IANA registry). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never sent on the wire; "no status code was present". */
  NoStatus: 1005,
  /** Reserved: never sent on the wire; "closed without a close frame". */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Reserved: never sent on the wire; TLS handshake failure. */
  TlsHandshake: 1015,
} as const;

/**
 * Close codes that complete a connection's streams instead of erroring them
 * (python-websockets `OK_CLOSE_CODES`): a normal close, going away, or a
 * close frame with no code.
 */
export const OK_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4.1,
 * §7.4.2; tungstenite `CloseCode::is_allowed`). 1004, 1005, 1006 and 1015 are
 * reserved, 0–999 are unused, 1016–2999 are for future RFCs, 3000–4999 are for
 * libraries and applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}
