/**
 * HTTP/1.1 message-head parsing for the WebSocket opening handshake
 * (RFC 6455 §4.1, §4.2.1; message syntax from RFC 9112, which obsoletes the
 * RFC 2616 grammar RFC 6455 cites).
 *
 * Sans-I/O: the caller accumulates received bytes and calls
 * {@link parseRequestHead} / {@link parseResponseHead} after each chunk.
 * "Need more bytes" is a result (`incomplete`), never an exception, and no
 * input makes these functions throw.
 *
 * Strict but practical: CRLF line endings are required (RFC 9112 §2.2 lets a
 * recipient accept a bare LF; we do not, so that a head means the same thing
 * to us as to any proxy in front of us), and obs-fold, bare CR, NUL and other
 * control characters are rejected.
 */

import { HandshakeError } from './errors';

/** A parsed HTTP/1.x request line and header section (RFC 9112 §3, §5). */
export interface HttpRequestHead {
  /** Request method, case preserved (methods are case-sensitive, RFC 9110 §9.1). */
  method: string;
  /** Request target exactly as received, e.g. `/chat?room=1`. */
  target: string;
  /** Protocol version without the `HTTP/` prefix, e.g. `'1.1'`. */
  version: string;
  /**
   * Header fields by lowercased name. Repeated fields are joined with `', '`
   * (RFC 9110 §5.3); `set-cookie`, which cannot be combined that way, is
   * joined with `'\n'` instead. The object inherits no properties (see
   * {@link createRecord}).
   */
  headers: Record<string, string>;
  /** `[name, value, name, value, ...]` in received order and case. */
  rawHeaders: string[];
}

/** A parsed HTTP/1.x status line and header section (RFC 9112 §4, §5). */
export interface HttpResponseHead {
  /** Protocol version without the `HTTP/` prefix, e.g. `'1.1'`. */
  version: string;
  /** Three-digit status code. */
  status: number;
  /** Reason phrase, possibly empty. */
  statusText: string;
  /** Header fields by lowercased name; see {@link HttpRequestHead.headers}. */
  headers: Record<string, string>;
  /** `[name, value, name, value, ...]` in received order and case. */
  rawHeaders: string[];
}

/**
 * Outcome of a head parse: need more bytes, a complete head (with the offset
 * of the first byte after the blank line), or a failure carrying the HTTP
 * status to answer with (400, or 431 when the head exceeds the size limit).
 */
export type HeadResult<T> =
  | { kind: 'incomplete' }
  | { kind: 'done'; head: T; bodyOffset: number }
  | { kind: 'error'; error: HandshakeError };

/** Default limit on the size of a head, CRLFCRLF included, in bytes. */
export const DEFAULT_MAX_HEAD_SIZE = 16384;

const INCOMPLETE: { kind: 'incomplete' } = Object.freeze({ kind: 'incomplete' }) as {
  kind: 'incomplete';
};

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** tchar (RFC 9110 §5.6.2): `!#$%&'*+-.^_\`|~`, DIGIT, ALPHA. */
const TCHAR = new Uint8Array(256);
/** field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. */
const FIELD_CHAR = new Uint8Array(256);
/** Characters allowed in a request-target: visible ASCII (RFC 3986 plus leniency for `"<>\^`{|}`). */
const TARGET_CHAR = new Uint8Array(256);
(function initTables(): void {
  const specials = "!#$%&'*+-.^_`|~";
  for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
  for (let i = 0; i < specials.length; i++) TCHAR[specials.charCodeAt(i)] = 1;
  FIELD_CHAR[HTAB] = 1;
  for (let c = 0x20; c <= 0x7e; c++) FIELD_CHAR[c] = 1;
  for (let c = 0x80; c <= 0xff; c++) FIELD_CHAR[c] = 1;
  for (let c = 0x21; c <= 0x7e; c++) TARGET_CHAR[c] = 1;
})();

/** Whether the UTF-16 code unit `c` is a tchar (RFC 9110 §5.6.2). */
export function isTokenChar(c: number): boolean {
  return c <= 0xff && TCHAR[c] === 1;
}

/**
 * A fresh, empty record that inherits nothing: `rec['constructor']` is
 * undefined and `rec['__proto__'] = v` stores a property. Unlike
 * `Object.create(null)` (a slow dictionary-mode object in V8), instances stay
 * fast-mode, which matters when parsing thousands of handshakes.
 */
export function createRecord<T>(): Record<string, T> {
  return new (EmptyRecord as unknown as new () => Record<string, T>)();
}
function EmptyRecord(): void {}
EmptyRecord.prototype = Object.freeze(Object.create(null) as object);

/**
 * Whether `s` is a non-empty HTTP token (RFC 9110 §5.6.2): the syntax of
 * methods, header names, extension names and subprotocols (RFC 6455 §4.1).
 */
export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Whether `s` may be sent as a header field value (RFC 9110 §5.5): no CR, LF,
 * NUL or other control character except HTAB, no leading or trailing
 * whitespace, and only Latin-1 code points (values are written byte-for-byte).
 */
export function isHeaderValue(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_CHAR[c] === 0) return false;
  }
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  return first !== SP && first !== HTAB && last !== SP && last !== HTAB;
}

function fail(message: string, status = 400): { kind: 'error'; error: HandshakeError } {
  return {
    kind: 'error',
    error: new HandshakeError(
      message,
      status,
      status === 431 ? 'WS_ERR_HANDSHAKE_HEAD_TOO_LARGE' : 'WS_ERR_HANDSHAKE_HTTP',
    ),
  };
}

/** Sentinels returned by {@link findHeadEnd} (valid ends are > 0). */
const END_INCOMPLETE = -1;
const END_BARE_LF = -2;
const END_TOO_LARGE = -3;

/**
 * Finds the end of the head (the index just past CRLFCRLF), scanning only
 * LF bytes from `from`, so a caller that passes the previous length minus 3
 * scans every byte a bounded number of times: linear overall.
 *
 * Every LF must be preceded by CR (RFC 9112 §2.2: we require CRLF).
 */
function findHeadEnd(buf: Buffer, maxSize: number, from: number): number {
  const limit = buf.length < maxSize ? buf.length : maxSize;
  let i = from;
  while (i < limit) {
    const lf = buf.indexOf(LF, i);
    if (lf === -1 || lf >= limit) break;
    if (lf === 0 || buf[lf - 1] !== CR) return END_BARE_LF;
    if (lf >= 3 && buf[lf - 2] === LF && buf[lf - 3] === CR) return lf + 1;
    i = lf + 1;
  }
  // No terminator within the first maxSize bytes: once that many bytes are
  // here, the head cannot fit (RFC 6585 §5: 431 Request Header Fields Too Large).
  return buf.length >= maxSize ? END_TOO_LARGE : END_INCOMPLETE;
}

function normalizeArgs(maxSize: number | undefined, searchFrom: number | undefined): [number, number] {
  const max = maxSize !== undefined && maxSize > 0 ? Math.floor(maxSize) : DEFAULT_MAX_HEAD_SIZE;
  const from = searchFrom !== undefined && searchFrom > 0 ? Math.floor(searchFrom) : 0;
  return [max, from];
}

/** Parses `HTTP/d.d` at `text[start..end)`; returns `'d.d'` or undefined. */
function parseVersion(text: string, start: number, end: number): string | undefined {
  // HTTP-version = HTTP-name "/" DIGIT "." DIGIT (RFC 9112 §2.3); HTTP-name is case-sensitive.
  if (end - start !== 8 || !text.startsWith('HTTP/', start)) return undefined;
  const major = text.charCodeAt(start + 5);
  const dot = text.charCodeAt(start + 6);
  const minor = text.charCodeAt(start + 7);
  if (major < 0x30 || major > 0x39 || dot !== 0x2e || minor < 0x30 || minor > 0x39) return undefined;
  return text.slice(start + 5, end);
}

/**
 * Lowercase names of the headers a handshake usually carries, by length.
 * Returning these literals (already internalized by V8) instead of a fresh
 * `toLowerCase()` string makes the keyed stores into `headers` cheap.
 */
const KNOWN_NAMES: readonly (readonly string[])[] = (() => {
  const names = [
    'host', 'upgrade', 'connection', 'origin', 'user-agent', 'pragma', 'cache-control', 'cookie',
    'accept', 'accept-encoding', 'accept-language', 'authorization', 'date', 'server', 'set-cookie',
    'content-length', 'content-type', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip', 'via',
    'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions',
    'sec-websocket-accept',
  ];
  const byLength: string[][] = [];
  for (let i = 0; i <= 32; i++) byLength.push([]);
  for (const n of names) byLength[n.length].push(n);
  return byLength;
})();

/** The known lowercase name equal (ASCII case-insensitively) to `text[start..end)`, if any. */
function knownName(text: string, start: number, end: number): string | undefined {
  const len = end - start;
  if (len >= KNOWN_NAMES.length) return undefined;
  const candidates = KNOWN_NAMES[len];
  for (let m = 0; m < candidates.length; m++) {
    const cand = candidates[m];
    let k = 0;
    for (; k < len; k++) {
      // Names are tokens here, so OR-ing 0x20 lowercases letters and leaves
      // the other tchars our candidates use ('-') unchanged.
      if ((text.charCodeAt(start + k) | 0x20) !== cand.charCodeAt(k)) break;
    }
    if (k === len) return cand;
  }
  return undefined;
}

/**
 * Parses the header lines of `text` starting at `pos` (each line ends at a
 * CRLF or at the end of `text`) into `headers` / `rawHeaders`. Returns an
 * error message, or undefined on success.
 */
function parseFields(
  text: string,
  pos: number,
  headers: Record<string, string>,
  rawHeaders: string[],
): string | undefined {
  const n = text.length;
  while (pos < n) {
    let lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd === -1) lineEnd = n;
    // field-name = token, and "No whitespace is allowed between the field name
    // and colon" (RFC 9112 §5.1): a line starting with SP/HTAB is obs-fold,
    // which a server MUST reject or unfold (RFC 9112 §5.2); we reject.
    let j = pos;
    while (j < lineEnd && TCHAR[text.charCodeAt(j)] === 1) j++;
    if (j === pos) {
      const c = text.charCodeAt(pos);
      return c === SP || c === HTAB
        ? 'obsolete line folding in header section (RFC 9112 §5.2)'
        : 'empty or invalid header field name (RFC 9112 §5.1)';
    }
    if (j === lineEnd || text.charCodeAt(j) !== COLON) {
      const c = text.charCodeAt(j);
      return c === SP || c === HTAB
        ? 'whitespace between header field name and colon (RFC 9112 §5.1)'
        : j === lineEnd
          ? 'header line without a colon (RFC 9112 §5.1)'
          : 'invalid character in header field name (RFC 9110 §5.6.2)';
    }
    const name = text.slice(pos, j);
    // OWS field-value OWS (RFC 9112 §5.1).
    let vs = j + 1;
    let ve = lineEnd;
    while (vs < ve) {
      const c = text.charCodeAt(vs);
      if (c !== SP && c !== HTAB) break;
      vs++;
    }
    while (ve > vs) {
      const c = text.charCodeAt(ve - 1);
      if (c !== SP && c !== HTAB) break;
      ve--;
    }
    // CR, LF and NUL MUST be rejected or replaced (RFC 9110 §5.5); we reject
    // them and every other CTL but HTAB. A CR here is a bare CR: every CRLF
    // already ended a line (RFC 9112 §2.2).
    for (let k = vs; k < ve; k++) {
      if (FIELD_CHAR[text.charCodeAt(k)] === 0) {
        return text.charCodeAt(k) === CR
          ? 'bare CR in header section (RFC 9112 §2.2)'
          : 'control character in header field value (RFC 9110 §5.5)';
      }
    }
    const value = text.slice(vs, ve);
    rawHeaders.push(name, value);
    const key = knownName(text, pos, j) ?? name.toLowerCase();
    const prev = headers[key];
    if (prev === undefined) headers[key] = value;
    // RFC 9110 §5.3: repeated fields combine into a comma list, except
    // Set-Cookie (RFC 6265 §3), whose values may themselves contain commas.
    else headers[key] = prev + (key === 'set-cookie' ? '\n' : ', ') + value;
    pos = lineEnd + 2;
  }
  return undefined;
}

/** Locates the head; returns its end, or a finished (non-done) result. */
function locate(
  buf: Buffer,
  maxSize: number,
  from: number,
): number | { kind: 'incomplete' } | { kind: 'error'; error: HandshakeError } {
  const end = findHeadEnd(buf, maxSize, from);
  if (end === END_INCOMPLETE) return INCOMPLETE;
  if (end === END_BARE_LF) return fail('bare LF in HTTP head: lines must end with CRLF (RFC 9112 §2.2)');
  if (end === END_TOO_LARGE) return fail(`HTTP head larger than ${maxSize} bytes`, 431);
  return end;
}

/**
 * Parses an HTTP/1.x request head (RFC 9112 §3, §5) from the start of `buf`.
 *
 * @param buf Every byte received so far on the connection.
 * @param maxSize Largest accepted head, CRLFCRLF included (default 16384);
 *   a longer head yields an error with status 431.
 * @param searchFrom Where to resume looking for the end of the head: pass the
 *   previous `buf.length - 3` to avoid rescanning (0 is always correct).
 * @returns `incomplete` until CRLFCRLF arrives; then the head and the offset
 *   of the first byte after it, or an error with status 400/431. Never throws.
 */
export function parseRequestHead(
  buf: Buffer,
  maxSize?: number,
  searchFrom?: number,
): HeadResult<HttpRequestHead> {
  // Fail fast on garbage: a request starts with a method token (RFC 9112 §3).
  // RFC 9112 §2.2 lets a server skip leading empty lines; we do not.
  if (buf.length > 0 && TCHAR[buf[0]] === 0) return fail('HTTP request must start with a method token');
  const [max, from] = normalizeArgs(maxSize, searchFrom);
  const end = locate(buf, max, from);
  if (typeof end !== 'number') return end;

  // Latin-1 maps bytes 1:1 onto code units (obs-text stays as-is, RFC 9110 §5.5).
  const text = buf.toString('latin1', 0, end - 4);
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
  let i = 0;
  while (i < lineEnd && TCHAR[text.charCodeAt(i)] === 1) i++;
  if (i === 0 || i === lineEnd || text.charCodeAt(i) !== SP) return fail('malformed request line: bad method');
  const method = text.slice(0, i);
  const ts = ++i;
  while (i < lineEnd && TARGET_CHAR[text.charCodeAt(i)] === 1) i++;
  if (i === ts || i === lineEnd || text.charCodeAt(i) !== SP) return fail('malformed request line: bad request target');
  const target = text.slice(ts, i);
  const version = parseVersion(text, i + 1, lineEnd);
  if (version === undefined) return fail('malformed request line: bad HTTP version');

  const headers = createRecord<string>();
  const rawHeaders: string[] = [];
  const err = parseFields(text, lineEnd + 2, headers, rawHeaders);
  if (err !== undefined) return fail(err);
  return { kind: 'done', head: { method, target, version, headers, rawHeaders }, bodyOffset: end };
}

/**
 * Parses an HTTP/1.x response head (RFC 9112 §4, §5) from the start of `buf`.
 * Parameters and result as for {@link parseRequestHead}. A status line with
 * no reason phrase (`HTTP/1.1 101`, no trailing SP) is accepted.
 */
export function parseResponseHead(
  buf: Buffer,
  maxSize?: number,
  searchFrom?: number,
): HeadResult<HttpResponseHead> {
  // Fail fast on garbage: a response starts with "HTTP/" (RFC 9112 §4).
  if (buf.length > 0 && buf[0] !== 0x48 /* H */) return fail('HTTP response must start with "HTTP/"');
  const [max, from] = normalizeArgs(maxSize, searchFrom);
  const end = locate(buf, max, from);
  if (typeof end !== 'number') return end;

  const text = buf.toString('latin1', 0, end - 4);
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;

  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).
  const version = parseVersion(text, 0, lineEnd < 8 ? lineEnd : 8);
  if (version === undefined || text.charCodeAt(8) !== SP) return fail('malformed status line: bad HTTP version');
  let status = 0;
  for (let k = 9; k < 12; k++) {
    const d = text.charCodeAt(k) - 0x30;
    // charCodeAt past the end is NaN, which fails this test too.
    if (!(d >= 0 && d <= 9) || k >= lineEnd) return fail('malformed status line: bad status code');
    status = status * 10 + d;
  }
  let statusText = '';
  if (lineEnd > 12) {
    if (text.charCodeAt(12) !== SP) return fail('malformed status line: bad status code');
    for (let k = 13; k < lineEnd; k++) {
      if (FIELD_CHAR[text.charCodeAt(k)] === 0) return fail('control character in reason phrase (RFC 9112 §4)');
    }
    statusText = text.slice(13, lineEnd);
  }

  const headers = createRecord<string>();
  const rawHeaders: string[] = [];
  const err = parseFields(text, lineEnd + 2, headers, rawHeaders);
  if (err !== undefined) return fail(err);
  return { kind: 'done', head: { version, status, statusText, headers, rawHeaders }, bodyOffset: end };
}
