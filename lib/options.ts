/**
 * Shared connection settings, their defaults and their checks.
 */
import { constants } from 'node:buffer';

/** Settings every connection has, server or client side. */
export interface ConnectionOptions {
  /** Largest incoming message in bytes; bigger ones close with 1009. Default 64 MiB. `Infinity` (or anything above it) means the largest Buffer Node can make. */
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

/** Longest delay `setTimeout` keeps (longer ones fire after 1 ms, with a warning). */
export const TIMER_MAX = 2 ** 31 - 1;

/**
 * Throws a RangeError unless `value` is a number from `min` to `max`
 * (`Infinity` only where `max` is).
 */
export function checkOption(name: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`${name} must be a number ${range}, got ${String(value)}`);
  }
}

/**
 * Fills in defaults and checks the values: a bad one throws a RangeError at
 * the call (`listen`, `connect`, `createPair`), not later from a timer or a
 * parser. `maxPayload` is capped at the largest Buffer (`buffer.constants.MAX_LENGTH`):
 * no bigger message could be assembled.
 */
export function resolveConnectionOptions(o: ConnectionOptions | undefined): Required<ConnectionOptions> {
  const r = {
    maxPayload: o?.maxPayload ?? DEFAULTS.maxPayload,
    highWaterMark: o?.highWaterMark ?? DEFAULTS.highWaterMark,
    closeTimeout: o?.closeTimeout ?? DEFAULTS.closeTimeout,
    handshakeTimeout: o?.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
    maxHeaderSize: o?.maxHeaderSize ?? DEFAULTS.maxHeaderSize,
  };
  checkOption('maxPayload', r.maxPayload, 0, Infinity);
  checkOption('highWaterMark', r.highWaterMark, 0, Infinity);
  checkOption('closeTimeout', r.closeTimeout, 0, TIMER_MAX);
  checkOption('handshakeTimeout', r.handshakeTimeout, 0, TIMER_MAX);
  checkOption('maxHeaderSize', r.maxHeaderSize, 1, Number.MAX_SAFE_INTEGER);
  r.maxPayload = Math.min(r.maxPayload, constants.MAX_LENGTH);
  return r;
}
