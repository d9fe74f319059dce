/**
 * Shared connection settings and their defaults.
 */

/** Settings every connection has, server or client side. */
export interface ConnectionOptions {
  /** Largest incoming message in bytes; bigger ones close with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** Outgoing buffer size (bytes) above which the connection stops reading from its peer. Default 256 KiB. */
  highWaterMark?: number;
  /** Milliseconds to wait for the closing handshake before dropping the transport. Default 10 s. */
  closeTimeout?: number;
  /** Milliseconds the opening handshake may take. Default 10 s. */
  handshakeTimeout?: number;
  /** Largest HTTP head (request or response) in bytes. Default 16 KiB. */
  maxHeaderSize?: number;
}

export const DEFAULTS = {
  maxPayload: 64 * 1024 * 1024,
  highWaterMark: 256 * 1024,
  closeTimeout: 10_000,
  handshakeTimeout: 10_000,
  maxHeaderSize: 16 * 1024,
} as const;

/** Fills in defaults. */
export function resolveConnectionOptions(o: ConnectionOptions | undefined): Required<ConnectionOptions> {
  return {
    maxPayload: o?.maxPayload ?? DEFAULTS.maxPayload,
    highWaterMark: o?.highWaterMark ?? DEFAULTS.highWaterMark,
    closeTimeout: o?.closeTimeout ?? DEFAULTS.closeTimeout,
    handshakeTimeout: o?.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
    maxHeaderSize: o?.maxHeaderSize ?? DEFAULTS.maxHeaderSize,
  };
}
