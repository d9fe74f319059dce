/**
 * Fuzz targets for the opening handshake (RFC 6455 §4; HTTP/1.1 heads per
 * RFC 9112): `parseRequestHead` / `parseResponseHead`, then
 * `validateClientRequest` / `validateServerResponse`, and the header-value
 * parsers. Inputs: valid heads built with the library's own builders, the
 * same mutated, random bytes; each fed whole and incrementally. Properties:
 * - nothing throws;
 * - a head parse is incomplete, done (with a sane body offset), or an error
 *   with status 400 or 431; feeding it in chunks (resuming the search at the
 *   previous length minus 3, as documented) ends the same way;
 * - validation of a parsed request is ok or a 4xx; of a response, ok or a
 *   `HandshakeError`;
 * - what the builders write parses and validates back to what was built.
 */
import { expect } from 'chai';
import * as fc from 'fast-check';
import { HandshakeError } from '../../lib/protocol/errors';
import {
  ExtensionOffer,
  acceptKey,
  buildClientRequest,
  buildServerResponse,
  formatExtensions,
  parseExtensions,
  parseProtocols,
  validateClientRequest,
  validateServerResponse,
} from '../../lib/protocol/handshake';
import { HeadResult, isToken, parseRequestHead, parseResponseHead } from '../../lib/protocol/http';
import { fromJson, mutate, splitAt, toJson } from './bytes';
import type { FuzzTarget } from './harness';

/** A head and how to feed it. */
export interface HeadInput {
  bytes: Buffer;
  /** The parser's size limit. */
  maxSize: number;
  cuts: number[];
  /** For requests: the path the server expects (404 otherwise), or null for any. */
  path: string | null;
}

type Summary = { kind: string; status?: number; code?: string; bodyOffset?: number; head?: string };

function summarize<T>(r: HeadResult<T>): Summary {
  if (r.kind === 'incomplete') return { kind: 'incomplete' };
  if (r.kind === 'error') return { kind: 'error', status: r.error.status, code: r.error.code };
  return { kind: 'done', bodyOffset: r.bodyOffset, head: JSON.stringify(r.head) };
}

/** Checks one head parser whole and incrementally; returns the whole result. */
function checkHead<T>(parse: (buf: Buffer, max?: number, from?: number) => HeadResult<T>, input: HeadInput): HeadResult<T> {
  const { bytes, maxSize, cuts } = input;
  const whole = parse(bytes, maxSize);
  expect(['incomplete', 'done', 'error']).to.include(whole.kind);
  if (whole.kind === 'error') {
    expect(whole.error).to.be.instanceOf(HandshakeError);
    expect([400, 431], whole.error.message).to.include(whole.error.status);
  } else if (whole.kind === 'done') {
    expect(whole.bodyOffset).to.be.at.most(bytes.length);
    expect(whole.bodyOffset, 'head within maxSize').to.be.at.most(maxSize);
    expect(bytes.toString('latin1', whole.bodyOffset - 4, whole.bodyOffset), 'head ends with CRLFCRLF').to.equal('\r\n\r\n');
  }
  // Incrementally: prefixes ending at each cut, then the whole buffer,
  // stopping at the first result that is not `incomplete`.
  let result: HeadResult<T> = { kind: 'incomplete' };
  let prev = 0;
  for (const piece of [...splitAt(bytes, cuts), Buffer.alloc(0)]) {
    const end = prev + piece.length;
    result = parse(bytes.subarray(0, end), maxSize, Math.max(0, prev - 3));
    prev = end;
    if (result.kind !== 'incomplete') break;
  }
  expect(summarize(result), 'incremental parse ends as the whole parse').to.deep.equal(summarize(whole));
  return whole;
}

function checkRequest(input: HeadInput): void {
  const r = checkHead(parseRequestHead, input);
  if (r.kind !== 'done') return;
  const head = r.head;
  expect(isToken(head.method), 'method is a token').to.equal(true);
  expect(head.rawHeaders.length % 2).to.equal(0);
  for (const k of Object.keys(head.headers)) expect(k, 'header names lowercased').to.equal(k.toLowerCase());
  const v = validateClientRequest(head, input.path ?? undefined);
  if (v.ok) {
    // §4.2.1 item 5: 16 random bytes, base64.
    expect(Buffer.from(v.request.key, 'base64').length).to.equal(16);
    expect(v.request.path.startsWith('/'), `path ${v.request.path}`).to.equal(true);
    if (input.path !== null) expect(v.request.path).to.equal(input.path);
    for (const p of v.request.protocols) expect(isToken(p)).to.equal(true);
    for (const e of v.request.extensions) expect(isToken(e.name)).to.equal(true);
  } else {
    expect(v.status >= 400 && v.status <= 499, `status ${v.status}`).to.equal(true);
    expect(v.reason).to.be.a('string');
  }
}

/** What a test client offered (the response is checked against it). */
const EXPECT = { key: 'dGhlIHNhbXBsZSBub25jZQ==', protocols: ['chat', 'superchat'], extensions: ['permessage-deflate'] };

function checkResponse(input: HeadInput): void {
  const r = checkHead(parseResponseHead, input);
  if (r.kind !== 'done') return;
  expect(r.head.status).to.be.within(0, 999);
  const v = validateServerResponse(r.head, EXPECT);
  if (v.ok) {
    expect(r.head.status).to.equal(101);
    expect(['', ...EXPECT.protocols]).to.include(v.protocol);
    for (const e of v.extensions) expect(EXPECT.extensions).to.include(e.name);
  } else {
    expect(v.error).to.be.instanceOf(HandshakeError);
    expect(v.error.code).to.match(/^WS_ERR_HANDSHAKE_/);
  }
}

// ---- arbitraries ----------------------------------------------------------------

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const pathArb = fc
  .array(fc.string({ unit: fc.constantFrom(...'abcxyz019-._~%!$&()*+,;=:@'), maxLength: 8 }), { maxLength: 4 })
  .map((parts) => '/' + parts.join('/'));
const queryArb = fc.option(fc.string({ unit: fc.constantFrom(...'abc=&19%/?'), maxLength: 12 }), { nil: undefined });
const valueArb = fc.string({ unit: fc.constantFrom(...'abc xyz019-_.,;=/"()'), maxLength: 24 }).map((s) => s.trim());
const keyArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a).toString('base64'));

const extensionArb: fc.Arbitrary<ExtensionOffer> = fc.record({
  name: fc.oneof(fc.constant('permessage-deflate'), tokenArb),
  params: fc
    .uniqueArray(fc.tuple(tokenArb, fc.oneof(fc.constant(true as const), tokenArb)), { maxLength: 3, selector: (t) => t[0] })
    .map((pairs) => Object.fromEntries(pairs) as Record<string, string | true>),
});

/** What a valid request is built from. */
export interface RequestModel {
  host: string;
  path: string;
  query?: string;
  key: string;
  protocols: string[];
  extensions: ExtensionOffer[];
  origin?: string;
  headers: Record<string, string>;
}

const requestModelArb: fc.Arbitrary<RequestModel> = fc.record({
  host: fc.constantFrom('127.0.0.1:8080', 'example.com', '[::1]:9000'),
  path: pathArb,
  query: queryArb,
  key: keyArb,
  protocols: fc.uniqueArray(tokenArb, { maxLength: 3 }),
  extensions: fc.array(extensionArb, { maxLength: 2 }),
  origin: fc.option(fc.constantFrom('http://127.0.0.1', 'https://example.com'), { nil: undefined }),
  headers: fc.dictionary(tokenArb, valueArb, { maxKeys: 4 }),
});

function requestBytes(m: RequestModel): Buffer {
  return Buffer.from(
    buildClientRequest({
      host: m.host,
      path: m.path + (m.query !== undefined ? '?' + m.query : ''),
      key: m.key,
      protocols: m.protocols,
      extensions: m.extensions,
      origin: m.origin,
      headers: m.headers,
    }),
    'latin1',
  );
}

const maxSizeArb = fc.oneof({ weight: 4, arbitrary: fc.constant(16384) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }) });
const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

const mutationArb = fc.oneof(
  fc.record({ op: fc.constant('set' as const), pos: fc.nat(), value: fc.constantFrom(0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x2c, 0x22, 0x7f, 0xff, 0x41) }),
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.constantFrom('\r\n', '\n', '\r', ' ', ':', ',', '\r\n\r\n', 'X-A: b\r\n').map((s) => Buffer.from(s, 'latin1')) }),
  fc.record({ op: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
);

const randomBytesArb = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

const requestInputArb: fc.Arbitrary<HeadInput> = fc.record({
  bytes: fc.oneof(
    requestModelArb.map(requestBytes),
    fc.tuple(requestModelArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([m, muts]) => mutate(requestBytes(m), [], muts)),
    randomBytesArb,
    randomBytesArb.map((b) => Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n', 'latin1'), b, Buffer.from('\r\n\r\n')])),
  ),
  maxSize: maxSizeArb,
  cuts: cutsArb,
  path: fc.option(pathArb, { nil: null, freq: 2 }),
});

/** What a valid response is built from. */
interface ResponseModel {
  key: string;
  protocol: string;
  extensions: ExtensionOffer[];
  headers: Record<string, string>;
}

const responseModelArb: fc.Arbitrary<ResponseModel> = fc.record({
  key: fc.oneof(fc.constant(EXPECT.key), keyArb),
  protocol: fc.constantFrom('', 'chat', 'superchat', 'other'),
  extensions: fc.array(extensionArb, { maxLength: 2 }),
  headers: fc.dictionary(tokenArb, valueArb, { maxKeys: 3 }),
});

function responseBytes(m: ResponseModel): Buffer {
  return Buffer.from(buildServerResponse({ accept: acceptKey(m.key), protocol: m.protocol, extensions: m.extensions, headers: m.headers }), 'latin1');
}

const responseInputArb: fc.Arbitrary<HeadInput> = fc.record({
  bytes: fc.oneof(
    responseModelArb.map(responseBytes),
    fc.tuple(responseModelArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([m, muts]) => mutate(responseBytes(m), [], muts)),
    randomBytesArb,
    randomBytesArb.map((b) => Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\n', 'latin1'), b, Buffer.from('\r\n\r\n')])),
  ),
  maxSize: maxSizeArb,
  cuts: cutsArb,
  path: fc.constant(null),
});

/** A header value for the list parsers: random, or a formatted list mutated. */
const headerValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom(...'ab-=;," \t\\'), maxLength: 40 }),
  fc.array(extensionArb, { minLength: 1, maxLength: 3 }).map(formatExtensions),
);

function checkHeaderValue(value: string): void {
  const ext = parseExtensions(value);
  if (ext instanceof HandshakeError) {
    expect(ext.status).to.equal(400);
  } else {
    expect(ext.length).to.be.at.least(1);
    // What parsed, formats and parses back the same.
    const again = parseExtensions(formatExtensions(ext));
    expect(again instanceof HandshakeError ? again.message : toJson(again)).to.deep.equal(toJson(ext));
  }
  const protocols = parseProtocols(value);
  if (protocols instanceof HandshakeError) expect(protocols.status).to.equal(400);
  else for (const p of protocols) expect(isToken(p), `protocol ${p}`).to.equal(true);
}

const headCodec = {
  encode: (i: HeadInput): unknown => ({ ...i, bytes: i.bytes.toString('latin1') }),
  decode: (j: unknown): HeadInput => {
    const o = j as HeadInput & { bytes: string };
    return { ...o, bytes: Buffer.from(o.bytes, 'latin1') };
  },
};

/** The targets, by name (see harness.ts). */
export const targets: Record<string, FuzzTarget<any>> = {
  'http/request': { arbitrary: requestInputArb, check: checkRequest, ...headCodec } satisfies FuzzTarget<HeadInput>,
  'http/response': { arbitrary: responseInputArb, check: checkResponse, ...headCodec } satisfies FuzzTarget<HeadInput>,
  'handshake/valid-request': {
    arbitrary: requestModelArb,
    check(m: RequestModel) {
      const r = parseRequestHead(requestBytes(m));
      if (r.kind !== 'done') throw new Error(`built request did not parse: ${r.kind === 'error' ? r.error.message : r.kind}`);
      const v = validateClientRequest(r.head, m.path);
      if (!v.ok) throw new Error(`built request rejected: ${v.status} ${v.reason}`);
      expect(v.request.key).to.equal(m.key);
      expect(v.request.path).to.equal(m.path);
      expect(v.request.query).to.equal(m.query ?? '');
      expect(v.request.protocols).to.deep.equal(m.protocols);
      expect(toJson(v.request.extensions)).to.deep.equal(toJson(m.extensions));
      for (const [name, value] of Object.entries(m.headers)) {
        // Extra headers the builder wrote (it skips handshake-owned names).
        if (r.head.rawHeaders.includes(name)) expect(r.head.headers[name.toLowerCase()]).to.include(value);
      }
    },
    encode: toJson,
    decode: (j: unknown) => fromJson(j) as RequestModel,
  } satisfies FuzzTarget<RequestModel>,
  'handshake/header-values': { arbitrary: headerValueArb, check: checkHeaderValue, encode: (s: string) => s, decode: (j: unknown) => j as string } satisfies FuzzTarget<string>,
};
