/**
 * The WebSocket opening handshake, both roles (RFC 6455 §4).
 *
 * Sans-I/O: these functions build request/response text and validate parsed
 * heads (see `http.ts`). Bad peer input never throws: validation returns a
 * result value carrying the HTTP status (server side) or a
 * {@link HandshakeError} (client side).
 */

import * as crypto from 'node:crypto';
import { randomBase64 } from './random';
import { HandshakeError } from './errors';
import { createRecord, isHeaderValue, isToken, isTokenChar, type HttpRequestHead, type HttpResponseHead } from './http';

/** The GUID appended to the key to compute `Sec-WebSocket-Accept` (RFC 6455 §1.3, §4.2.2). */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 encoded
 * (RFC 6455 §4.1: "randomly selected 16-byte value ... base64-encoded").
 */
export function generateKey(): string {
  return randomBase64(16);
}

/** `crypto.hash` (Node 20.12 / 21.7): one-shot, no Hash object; undefined before. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/**
 * The `Sec-WebSocket-Accept` value for `key`: base64(SHA-1(key + GUID))
 * (RFC 6455 §4.2.2 step 5.4). The key is used as sent, not decoded, as
 * Latin-1 bytes. One-shot `crypto.hash` (0.7 µs against 1.7 for
 * `createHash`) encodes strings as UTF-8, which is the same bytes when the
 * key is ASCII, as every valid one is (base64).
 */
export function acceptKey(key: string): string {
  const input = key + WS_GUID;
  if (oneShotHash !== undefined && Buffer.byteLength(input) === input.length) return oneShotHash('sha1', input, 'base64');
  return crypto.createHash('sha1').update(input, 'latin1').digest('base64');
}

/** One element of a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1). */
export interface ExtensionOffer {
  /** Extension token, e.g. `permessage-deflate`, case preserved. */
  name: string;
  /**
   * Parameters in order; `true` for a parameter without a value. Quoted
   * values are unquoted. When parsed, the object inherits no properties.
   */
  params: Record<string, string | true>;
}

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMI = 0x3b;
const EQ = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipOws(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c !== SP && c !== HTAB) break;
    i++;
  }
  return i;
}

function scanToken(s: string, i: number): number {
  const n = s.length;
  while (i < n && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

function extensionError(message: string): HandshakeError {
  return new HandshakeError(message, 400, 'WS_ERR_HANDSHAKE_EXTENSION');
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1, RFC 7692 §5):
 *
 * ```
 * extension-list  = 1#extension
 * extension       = extension-token *( ";" extension-param )
 * extension-param = token [ "=" (token | quoted-string) ]
 * ```
 *
 * Whitespace is allowed around `,`, `;` and `=`. Quoted values are unquoted,
 * and, as §9.1 requires, must then be tokens. Empty list elements
 * (`a,,b`, a trailing comma, an empty string) and a parameter repeated within
 * one offer are errors. An extension may appear more than once (alternative
 * offers, RFC 7692 §5.1). Never throws.
 *
 * @returns The offers in order, or a {@link HandshakeError} (status 400, code
 *   `WS_ERR_HANDSHAKE_EXTENSION`) describing the first syntax error.
 */
export function parseExtensions(header: string): ExtensionOffer[] | HandshakeError {
  const out: ExtensionOffer[] = [];
  const n = header.length;
  let i = 0;
  for (;;) {
    i = skipOws(header, i);
    const ns = i;
    i = scanToken(header, i);
    if (i === ns) {
      return extensionError(
        ns === n || header.charCodeAt(ns) === COMMA
          ? 'empty element in Sec-WebSocket-Extensions'
          : `invalid character at index ${ns} in Sec-WebSocket-Extensions`,
      );
    }
    const name = header.slice(ns, i);
    const params = createRecord<string | true>();
    i = skipOws(header, i);
    while (i < n && header.charCodeAt(i) === SEMI) {
      i = skipOws(header, i + 1);
      const ps = i;
      i = scanToken(header, i);
      if (i === ps) return extensionError(`missing parameter name at index ${ps} in Sec-WebSocket-Extensions`);
      const pname = header.slice(ps, i);
      if (pname in params) return extensionError(`parameter "${pname}" repeated in extension "${name}"`);
      let value: string | true = true;
      i = skipOws(header, i);
      if (i < n && header.charCodeAt(i) === EQ) {
        i = skipOws(header, i + 1);
        if (i < n && header.charCodeAt(i) === DQUOTE) {
          // quoted-string (RFC 9110 §5.6.4), unescaped segment by segment.
          let j = i + 1;
          let seg = j;
          let v = '';
          let closed = false;
          while (j < n) {
            const c = header.charCodeAt(j);
            if (c === DQUOTE) {
              closed = true;
              break;
            }
            if (c === BACKSLASH) {
              v += header.slice(seg, j);
              seg = j + 1; // keep the escaped character
              j += 2;
              continue;
            }
            j++;
          }
          if (!closed) return extensionError(`unterminated quoted string in extension "${name}"`);
          v += header.slice(seg, j);
          // RFC 6455 §9.1: "the value after quoted-string unescaping MUST
          // conform to the 'token' ABNF".
          if (!isToken(v)) return extensionError(`parameter "${pname}" of "${name}" is not a token after unquoting`);
          value = v;
          i = j + 1;
        } else {
          const vs = i;
          i = scanToken(header, i);
          if (i === vs) return extensionError(`missing value for parameter "${pname}" of "${name}"`);
          value = header.slice(vs, i);
        }
        i = skipOws(header, i);
      }
      params[pname] = value;
    }
    out.push({ name, params });
    if (i >= n) return out;
    if (header.charCodeAt(i) !== COMMA) {
      return extensionError(`invalid character at index ${i} in Sec-WebSocket-Extensions`);
    }
    i++;
  }
}

/**
 * Formats offers as a `Sec-WebSocket-Extensions` value:
 * `name; a; b=1, other` (RFC 6455 §9.1). Values that are not tokens are
 * quoted (with `"` and `\` escaped); `true` writes the bare parameter name.
 */
export function formatExtensions(list: ExtensionOffer[]): string {
  let out = '';
  for (let k = 0; k < list.length; k++) {
    const ext = list[k];
    if (k > 0) out += ', ';
    out += ext.name;
    for (const pname in ext.params) {
      const v = ext.params[pname];
      out += '; ' + pname;
      if (v === true) continue;
      const s = String(v);
      out += '=' + (isToken(s) ? s : '"' + s.replace(/["\\]/g, '\\$&') + '"');
    }
  }
  return out;
}

/**
 * Parses a `Sec-WebSocket-Protocol` value: a comma list of tokens
 * (RFC 6455 §4.1 item 10, §11.3.4), whitespace around commas allowed.
 * `undefined` (header absent) gives `[]`. Empty elements (including an empty
 * header) and duplicates (compared case-sensitively) are errors. Never throws.
 *
 * @returns The subprotocols in the client's preference order, or a
 *   {@link HandshakeError} (status 400, code `WS_ERR_HANDSHAKE_PROTOCOL`).
 */
export function parseProtocols(header: string | undefined): string[] | HandshakeError {
  if (header === undefined) return [];
  const out: string[] = [];
  const n = header.length;
  let i = 0;
  for (;;) {
    i = skipOws(header, i);
    const s = i;
    i = scanToken(header, i);
    if (i === s) {
      return new HandshakeError(
        s === n || header.charCodeAt(s) === COMMA
          ? 'empty element in Sec-WebSocket-Protocol'
          : `invalid character at index ${s} in Sec-WebSocket-Protocol`,
        400,
        'WS_ERR_HANDSHAKE_PROTOCOL',
      );
    }
    const p = header.slice(s, i);
    if (out.includes(p)) {
      return new HandshakeError(`subprotocol "${p}" repeated in Sec-WebSocket-Protocol`, 400, 'WS_ERR_HANDSHAKE_PROTOCOL');
    }
    out.push(p);
    i = skipOws(header, i);
    if (i >= n) return out;
    if (header.charCodeAt(i) !== COMMA) {
      return new HandshakeError(`invalid character at index ${i} in Sec-WebSocket-Protocol`, 400, 'WS_ERR_HANDSHAKE_PROTOCOL');
    }
    i++;
  }
}

/**
 * Appends `extra` headers to `out`, skipping any whose lowercased name is in
 * `written` (the handshake's own headers take precedence) and any whose name
 * is not a token or whose value could break the head (CR/LF/CTL), so caller
 * data can never inject header lines.
 */
function appendHeaders(out: string, extra: Record<string, string> | undefined, written: readonly string[]): string {
  if (extra === undefined) return out;
  for (const name of Object.keys(extra)) {
    const value = String(extra[name]);
    if (!isToken(name) || !isHeaderValue(value)) continue;
    if (written.includes(name.toLowerCase())) continue;
    out += name + ': ' + value + '\r\n';
  }
  return out;
}

/** What {@link buildClientRequest} needs to write the opening request. */
export interface ClientRequestOptions {
  /** `Host` header value, including the port when it is not the scheme's default. */
  host: string;
  /** Path and query, e.g. `/chat?room=1` (RFC 6455 §3 resource name). */
  path: string;
  /** `Sec-WebSocket-Key`, from {@link generateKey}. */
  key: string;
  /** Subprotocols to offer, most preferred first. */
  protocols?: string[];
  /** Extensions to offer. */
  extensions?: ExtensionOffer[];
  /** `Origin` header value (RFC 6455 §4.1 item 8; browsers always send one). */
  origin?: string;
  /**
   * Extra headers. Names that collide with the handshake's own headers are
   * ignored, as are invalid names/values (CR, LF, other CTLs).
   */
  headers?: Record<string, string>;
}

const CLIENT_OWN = [
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
];

/**
 * The client's opening request (RFC 6455 §4.1): `GET path HTTP/1.1`, `Host`,
 * `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key`,
 * `Sec-WebSocket-Version: 13`, then the optional protocol, extension and
 * origin headers, extra headers, and the blank line.
 *
 * `host`, `path` and `key` are written as given: derive them from a parsed
 * URL and {@link generateKey} (which cannot contain CR, LF or spaces). Empty
 * `protocols`/`extensions` lists omit their header.
 */
export function buildClientRequest(o: ClientRequestOptions): string {
  let out =
    'GET ' + o.path + ' HTTP/1.1\r\n' +
    'Host: ' + o.host + '\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    'Sec-WebSocket-Key: ' + o.key + '\r\n' +
    'Sec-WebSocket-Version: 13\r\n';
  if (o.protocols !== undefined && o.protocols.length > 0) {
    out += 'Sec-WebSocket-Protocol: ' + o.protocols.join(', ') + '\r\n';
  }
  if (o.extensions !== undefined && o.extensions.length > 0) {
    out += 'Sec-WebSocket-Extensions: ' + formatExtensions(o.extensions) + '\r\n';
  }
  let own = CLIENT_OWN;
  if (o.origin !== undefined && isHeaderValue(o.origin)) {
    out += 'Origin: ' + o.origin + '\r\n';
    own = [...CLIENT_OWN, 'origin'];
  }
  return appendHeaders(out, o.headers, own) + '\r\n';
}

/** A client opening request that passed {@link validateClientRequest}. */
export interface ClientHandshakeRequest {
  /** `Sec-WebSocket-Key` as sent (feed it to {@link acceptKey}). */
  key: string;
  /** Offered subprotocols, client preference order; `[]` if none. */
  protocols: string[];
  /** Offered extensions in order; `[]` if none. */
  extensions: ExtensionOffer[];
  /** Request target up to (not including) `?`; `/` for an absolute-form target without a path. */
  path: string;
  /** Query after `?`, without the `?`; `''` if none. */
  query: string;
  /** All request headers (lowercased names; see `HttpRequestHead.headers`). */
  headers: Record<string, string>;
  /** `Origin` header, if sent. */
  origin?: string;
}

/**
 * Result of {@link validateClientRequest}: the accepted request, or the HTTP
 * status, a short human `reason`, and headers to answer with (pass them to
 * {@link buildRejection}).
 */
export type RequestValidation =
  | { ok: true; request: ClientHandshakeRequest }
  | { ok: false; status: number; reason: string; headers: Record<string, string> };

/** Whether the comma list `value` contains `token`, ASCII case-insensitively (RFC 9110 §5.6.1). */
function listHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const n = value.length;
  const t = token.length;
  let i = 0;
  while (i < n) {
    let end = value.indexOf(',', i);
    if (end === -1) end = n;
    let s = skipOws(value, i);
    let e = end;
    while (e > s && (value.charCodeAt(e - 1) === SP || value.charCodeAt(e - 1) === HTAB)) e--;
    if (e - s === t) {
      let k = 0;
      // Lowercase ASCII letters by OR-ing 0x20; `token` is lowercase.
      for (; k < t; k++) {
        const c = value.charCodeAt(s + k);
        const lc = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
        if (lc !== token.charCodeAt(k)) break;
      }
      if (k === t) return true;
    }
    s = end + 1;
    i = s;
  }
  return false;
}

/** base64 alphabet (RFC 4648 §4), not the URL-safe one. */
function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f
  );
}

/**
 * RFC 6455 §4.2.1 item 5: the key must be base64 that decodes to 16 bytes,
 * which is exactly 22 alphabet characters then `==`. (Like ws, the unused
 * low bits of the 22nd character are not required to be zero.)
 */
function isValidKey(key: string | undefined): key is string {
  if (key === undefined || key.length !== 24) return false;
  if (key.charCodeAt(22) !== EQ || key.charCodeAt(23) !== EQ) return false;
  for (let i = 0; i < 22; i++) if (!isBase64Char(key.charCodeAt(i))) return false;
  return true;
}

function countRaw(raw: readonly string[], lowerName: string): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) count++;
  }
  return count;
}

function reject(status: number, reason: string, headers: Record<string, string> = {}): RequestValidation {
  return { ok: false, status, reason, headers };
}

/**
 * Splits a request target into path and query. Accepts origin-form
 * (`/p?q`) and, as RFC 9112 §3.2.2 requires of servers, absolute-form
 * (`ws://host/p?q`); anything else (asterisk- or authority-form) is undefined.
 */
function splitTarget(target: string): { path: string; query: string } | undefined {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const scheme = target.indexOf('://');
    if (scheme <= 0) return undefined;
    const authorityEnd = target.slice(scheme + 3).search(/[/?]/);
    if (authorityEnd === -1) return { path: '/', query: '' };
    start = scheme + 3 + authorityEnd;
  }
  const q = target.indexOf('?', start);
  if (q === -1) return { path: target.slice(start), query: '' };
  const path = q === start ? '/' : target.slice(start, q);
  return { path, query: target.slice(q + 1) };
}

/**
 * Validates a client's opening request as a server must (RFC 6455 §4.2.1),
 * checking in this order:
 *
 * 1. method `GET`, else 405 with `Allow: GET`;
 * 2. HTTP version 1.1 or a later 1.x, else 400;
 * 3. exactly one non-empty `Host`, else 400;
 * 4. `Upgrade` lists `websocket` (case-insensitive), else 400;
 * 5. `Connection` lists `upgrade` (case-insensitive), else 400;
 * 6. `Sec-WebSocket-Key` is base64 of 16 bytes, else 400;
 * 7. `Sec-WebSocket-Version` is `13`, else 426 with `Sec-WebSocket-Version: 13`
 *    (§4.2.2 item 4; also when missing);
 * 8. if `expectedPath` is given, the target's path equals it exactly
 *    (no decoding or normalization), else 404;
 * 9. `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` are well formed, else 400.
 *
 * Never throws.
 */
export function validateClientRequest(head: HttpRequestHead, expectedPath?: string): RequestValidation {
  const h = head.headers;
  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (head.method !== 'GET') {
    return reject(405, 'The WebSocket handshake requires a GET request.', { Allow: 'GET' });
  }
  // §4.2.1 item 1 again: HTTP/1.1 or higher. A request line saying HTTP/2+
  // cannot be real (HTTP/2 is binary framed; WebSockets over it use RFC 8441
  // CONNECT), so we treat it as malformed: 400, not 505, because 505 would
  // suggest retrying with another version, and no version of this line works.
  if (head.version !== '1.1' && !(head.version.charCodeAt(0) === 0x31 && head.version > '1.1')) {
    return reject(400, 'The WebSocket handshake requires HTTP/1.1.');
  }
  // §4.2.1 item 2; RFC 9112 §3.2: a missing, empty or repeated Host is a 400.
  const host = h['host'];
  if (host === undefined || host === '' || countRaw(head.rawHeaders, 'host') !== 1) {
    return reject(400, 'A single Host header is required.');
  }
  // §4.2.1 item 3.
  if (!listHasToken(h['upgrade'], 'websocket')) {
    return reject(400, 'Upgrade: websocket required.');
  }
  // §4.2.1 item 4.
  if (!listHasToken(h['connection'], 'upgrade')) {
    return reject(400, 'Connection: Upgrade required.');
  }
  // §4.2.1 item 5. A repeated key was joined with ', ' and fails here.
  const key = h['sec-websocket-key'];
  if (!isValidKey(key)) {
    return reject(400, 'Sec-WebSocket-Key must be the base64 encoding of 16 bytes.');
  }
  // §4.2.1 item 6 and §4.2.2 item 4: answer an unsupported version with 426
  // and the versions we do support.
  if (h['sec-websocket-version'] !== '13') {
    return reject(426, 'Unsupported WebSocket version: only version 13 is supported.', {
      'Sec-WebSocket-Version': '13',
    });
  }
  const parts = splitTarget(head.target);
  if (parts === undefined) return reject(400, 'Invalid request target.');
  // §4.2.1 item 1's Request-URI names the resource; §4.2.2 item 1 lets the
  // server answer "not found" for a resource it does not serve.
  if (expectedPath !== undefined && parts.path !== expectedPath) {
    return reject(404, 'No WebSocket endpoint at this path.');
  }
  // §4.2.1 items 8 and 9 (optional headers, but well formed when present).
  const protocols = parseProtocols(h['sec-websocket-protocol']);
  if (protocols instanceof HandshakeError) return reject(400, 'Invalid Sec-WebSocket-Protocol header.');
  const extHeader = h['sec-websocket-extensions'];
  const extensions = extHeader === undefined ? [] : parseExtensions(extHeader);
  if (extensions instanceof HandshakeError) return reject(400, 'Invalid Sec-WebSocket-Extensions header.');

  const request: ClientHandshakeRequest = {
    key,
    protocols,
    extensions,
    path: parts.path,
    query: parts.query,
    headers: h,
  };
  const origin = h['origin'];
  if (origin !== undefined) request.origin = origin;
  return { ok: true, request };
}

/**
 * Chooses a subprotocol (RFC 6455 §4.2.2 item 5.4): the FIRST entry of the
 * client's `offered` list that the server `supported` list contains, i.e.
 * the client's preference wins, not the server's. `undefined` when none
 * match (the response then omits `Sec-WebSocket-Protocol`). Case-sensitive.
 */
export function selectProtocol(offered: string[], supported: readonly string[]): string | undefined {
  for (const p of offered) if (supported.includes(p)) return p;
  return undefined;
}

/** What {@link buildServerResponse} needs to write the 101 response. */
export interface ServerResponseOptions {
  /** `Sec-WebSocket-Accept`, from {@link acceptKey}. */
  accept: string;
  /** Chosen subprotocol; omitted or `''` writes no header. */
  protocol?: string;
  /** Accepted extensions with their response parameters. */
  extensions?: ExtensionOffer[];
  /** Extra headers; handshake header names and invalid names/values are ignored. */
  headers?: Record<string, string>;
}

const SERVER_OWN = ['upgrade', 'connection', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'];

/**
 * The server's 101 response (RFC 6455 §4.2.2 item 5): status line,
 * `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`, the
 * optional protocol and extension headers, extra headers, blank line.
 */
export function buildServerResponse(o: ServerResponseOptions): string {
  let out =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: ' + o.accept + '\r\n';
  if (o.protocol !== undefined && o.protocol !== '') out += 'Sec-WebSocket-Protocol: ' + o.protocol + '\r\n';
  if (o.extensions !== undefined && o.extensions.length > 0) {
    out += 'Sec-WebSocket-Extensions: ' + formatExtensions(o.extensions) + '\r\n';
  }
  return appendHeaders(out, o.headers, SERVER_OWN) + '\r\n';
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/**
 * A complete HTTP/1.1 error response refusing the handshake (RFC 6455 §4.2.1:
 * "respond with an appropriate HTTP error code"): status line with a standard
 * reason phrase, `Connection: close`, `Content-Type: text/plain;
 * charset=utf-8` (an extra `Content-Type` replaces it), `Content-Length`
 * in UTF-8 bytes, extra `headers`, then `body` (default: `reason`).
 *
 * Write the result as UTF-8. A `status` that is not an integer in 100..999
 * is replaced by 500.
 */
export function buildRejection(
  status: number,
  reason: string,
  headers?: Record<string, string>,
  body?: string,
): string {
  const code = Number.isInteger(status) && status >= 100 && status <= 999 ? status : 500;
  const text =
    STATUS_TEXT[code] ?? (code >= 500 ? 'Server Error' : code >= 400 ? 'Client Error' : code >= 300 ? 'Redirect' : 'OK');
  const payload = body ?? reason;
  let out = 'HTTP/1.1 ' + code + ' ' + text + '\r\nConnection: close\r\n';
  let contentType = 'text/plain; charset=utf-8';
  if (headers !== undefined) {
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'content-type' && isHeaderValue(String(headers[name]))) {
        contentType = String(headers[name]);
      }
    }
  }
  out += 'Content-Type: ' + contentType + '\r\nContent-Length: ' + Buffer.byteLength(payload, 'utf8') + '\r\n';
  return appendHeaders(out, headers, ['connection', 'content-type', 'content-length']) + '\r\n' + payload;
}

/** What the client offered, to check the server's response against. */
export interface ClientExpectations {
  /** The `Sec-WebSocket-Key` the client sent. */
  key: string;
  /** Subprotocols offered. */
  protocols: readonly string[];
  /** Names of the extensions offered. */
  extensions: readonly string[];
}

/**
 * Result of {@link validateServerResponse}: the negotiated subprotocol
 * (`''` for none) and extensions, or why the client must fail the connection.
 */
export type ResponseValidation =
  | { ok: true; protocol: string; extensions: ExtensionOffer[] }
  | { ok: false; error: HandshakeError };

/**
 * Validates the server's response as a client must (RFC 6455 §4.1, "the
 * client MUST _Fail the WebSocket Connection_" items 1-6). Error codes:
 *
 * - status not 101: `WS_ERR_HANDSHAKE_STATUS`, with that status;
 * - `Upgrade` lacks `websocket`: `WS_ERR_HANDSHAKE_UPGRADE`;
 * - `Connection` lacks `upgrade`: `WS_ERR_HANDSHAKE_CONNECTION`;
 * - `Sec-WebSocket-Accept` differs from `acceptKey(key)`: `WS_ERR_HANDSHAKE_ACCEPT`;
 * - `Sec-WebSocket-Protocol` not offered, or more than one: `WS_ERR_HANDSHAKE_PROTOCOL`;
 * - an extension not offered, repeated, or malformed: `WS_ERR_HANDSHAKE_EXTENSION`.
 *
 * Header failures carry status 101 (what the server sent). A server that
 * picks no subprotocol although some were offered is accepted (protocol
 * `''`): §4.1 only forbids a value that was not offered, and it is for the
 * application to decide whether to close. Never throws.
 */
export function validateServerResponse(head: HttpResponseHead, expect: ClientExpectations): ResponseValidation {
  const h = head.headers;
  const fail = (message: string, code: string): ResponseValidation => ({
    ok: false,
    error: new HandshakeError(message, head.status, code, h),
  });
  // §4.1 item 1: anything but 101 means no WebSocket (redirects and auth are
  // for the caller to handle, with this error's status and headers).
  if (head.status !== 101) {
    return fail(
      `Unexpected server response: ${head.status}${head.statusText ? ' ' + head.statusText : ''}`,
      'WS_ERR_HANDSHAKE_STATUS',
    );
  }
  // §4.1 item 2.
  if (!listHasToken(h['upgrade'], 'websocket')) {
    return fail('Invalid Upgrade header: expected "websocket"', 'WS_ERR_HANDSHAKE_UPGRADE');
  }
  // §4.1 item 3.
  if (!listHasToken(h['connection'], 'upgrade')) {
    return fail('Invalid Connection header: expected "Upgrade"', 'WS_ERR_HANDSHAKE_CONNECTION');
  }
  // §4.1 item 4: exact, case-sensitive comparison (base64 is case-sensitive).
  if (h['sec-websocket-accept'] !== acceptKey(expect.key)) {
    return fail('Invalid Sec-WebSocket-Accept header', 'WS_ERR_HANDSHAKE_ACCEPT');
  }
  // §4.1 item 6: the server may pick at most one of the offered subprotocols.
  let protocol = '';
  const protoHeader = h['sec-websocket-protocol'];
  if (protoHeader !== undefined) {
    if (expect.protocols.length === 0) {
      return fail('Server sent a subprotocol but none was offered', 'WS_ERR_HANDSHAKE_PROTOCOL');
    }
    if (protoHeader.includes(',')) {
      return fail('Server sent more than one subprotocol', 'WS_ERR_HANDSHAKE_PROTOCOL');
    }
    if (!expect.protocols.includes(protoHeader)) {
      return fail(`Server sent a subprotocol that was not offered: "${protoHeader}"`, 'WS_ERR_HANDSHAKE_PROTOCOL');
    }
    protocol = protoHeader;
  }
  // §4.1 item 5: every extension in use must have been offered.
  let extensions: ExtensionOffer[] = [];
  const extHeader = h['sec-websocket-extensions'];
  if (extHeader !== undefined) {
    const parsed = parseExtensions(extHeader);
    if (parsed instanceof HandshakeError) {
      return fail(`Invalid Sec-WebSocket-Extensions header: ${parsed.message}`, 'WS_ERR_HANDSHAKE_EXTENSION');
    }
    for (let k = 0; k < parsed.length; k++) {
      const name = parsed[k].name;
      if (!expect.extensions.includes(name)) {
        return fail(`Server accepted an extension that was not offered: "${name}"`, 'WS_ERR_HANDSHAKE_EXTENSION');
      }
      // A response lists the extensions in use (§9.1); one twice is meaningless.
      for (let m = 0; m < k; m++) {
        if (parsed[m].name === name) {
          return fail(`Server accepted extension "${name}" more than once`, 'WS_ERR_HANDSHAKE_EXTENSION');
        }
      }
    }
    extensions = parsed;
  }
  return { ok: true, protocol, extensions };
}
