import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { HandshakeError } from '../../lib/protocol/errors';
import {
  WS_GUID,
  acceptKey,
  buildClientRequest,
  buildRejection,
  buildServerResponse,
  formatExtensions,
  generateKey,
  parseExtensions,
  parseProtocols,
  selectProtocol,
  validateClientRequest,
  validateServerResponse,
  type ClientExpectations,
  type ExtensionOffer,
  type RequestValidation,
  type ResponseValidation,
} from '../../lib/protocol/handshake';
import {
  parseRequestHead,
  parseResponseHead,
  type HttpRequestHead,
  type HttpResponseHead,
} from '../../lib/protocol/http';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Parses request bytes (CRLF lines joined) into a head, failing the test otherwise. */
function requestHead(lines: string[]): HttpRequestHead {
  const r = parseRequestHead(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  if (r.kind !== 'done') throw new Error(`request did not parse: ${r.kind === 'error' ? r.error.message : r.kind}`);
  return r.head;
}

function responseHead(lines: string[]): HttpResponseHead {
  const r = parseResponseHead(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  if (r.kind !== 'done') throw new Error(`response did not parse: ${r.kind === 'error' ? r.error.message : r.kind}`);
  return r.head;
}

const GOOD_REQUEST = [
  'GET /chat?room=1&x=2 HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${RFC_KEY}`,
  'Origin: http://example.com',
  'Sec-WebSocket-Version: 13',
];

/** GOOD_REQUEST with header `name` replaced by `line` (or removed when line is undefined). */
function withHeader(name: string, line?: string, base = GOOD_REQUEST): string[] {
  const lower = name.toLowerCase() + ':';
  const out = base.filter((l) => !l.toLowerCase().startsWith(lower));
  if (line !== undefined) out.push(line);
  return out;
}

function rejected(v: RequestValidation): { status: number; reason: string; headers: Record<string, string> } {
  if (v.ok) throw new Error('expected a rejection');
  expect(v.reason).to.be.a('string').and.match(/\S/);
  return v;
}

function accepted(v: RequestValidation) {
  if (!v.ok) throw new Error(`expected acceptance, got ${v.status} ${v.reason}`);
  return v.request;
}

function failed(v: ResponseValidation): HandshakeError {
  if (v.ok) throw new Error('expected a failure');
  expect(v.error).to.be.instanceOf(HandshakeError);
  return v.error;
}

const GOOD_RESPONSE = [
  'HTTP/1.1 101 Switching Protocols',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Accept: ${RFC_ACCEPT}`,
];

const EXPECT: ClientExpectations = { key: RFC_KEY, protocols: ['chat', 'superchat'], extensions: ['permessage-deflate'] };

describe('protocol/handshake', () => {
  describe('keys', () => {
    it('computes the RFC 6455 §1.3 example accept value', () => {
      expect(acceptKey(RFC_KEY)).to.equal(RFC_ACCEPT);
    });

    it('uses the RFC 6455 GUID', () => {
      expect(WS_GUID).to.equal('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
      const key = generateKey();
      expect(acceptKey(key)).to.equal(
        createHash('sha1')
          .update(key + WS_GUID)
          .digest('base64'),
      );
    });

    it('hashes the key as Latin-1 bytes, ASCII (one-shot hash) or not (the fallback)', () => {
      for (const key of [generateKey(), 'clé\u00ff', '']) {
        expect(acceptKey(key), key).to.equal(
          createHash('sha1')
            .update(key + WS_GUID, 'latin1')
            .digest('base64'),
        );
      }
    });

    it('generates distinct base64 keys of 16 bytes that the server accepts', () => {
      const seen = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const key = generateKey();
        expect(key).to.match(/^[A-Za-z0-9+/]{22}==$/);
        expect(Buffer.from(key, 'base64')).to.have.length(16);
        seen.add(key);
        const head = requestHead(withHeader('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${key}`));
        expect(validateClientRequest(head).ok).to.equal(true);
      }
      expect(seen.size).to.equal(50);
    });
  });

  describe('parseExtensions', () => {
    it('parses the RFC 7692 example offers with token and quoted values', () => {
      const r = parseExtensions(
        'permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="10"',
      );
      expect(r).to.not.be.instanceOf(HandshakeError);
      const list = r as ExtensionOffer[];
      expect(list).to.have.length(2);
      expect(list[0].name).to.equal('permessage-deflate');
      expect({ ...list[0].params }).to.deep.equal({ client_max_window_bits: true });
      expect(list[1].name).to.equal('permessage-deflate');
      expect({ ...list[1].params }).to.deep.equal({ server_max_window_bits: '10' });
    });

    it('parses several params, token values, and tolerates whitespace', () => {
      const list = parseExtensions(
        '  permessage-deflate ;server_no_context_takeover;  client_max_window_bits = 15 ,\tx-foo , bar;a="b"',
      ) as ExtensionOffer[];
      expect(list.map((e) => e.name)).to.deep.equal(['permessage-deflate', 'x-foo', 'bar']);
      expect({ ...list[0].params }).to.deep.equal({ server_no_context_takeover: true, client_max_window_bits: '15' });
      expect(Object.keys(list[0].params)).to.deep.equal(['server_no_context_takeover', 'client_max_window_bits']);
      expect({ ...list[1].params }).to.deep.equal({});
      expect({ ...list[2].params }).to.deep.equal({ a: 'b' });
    });

    it('unescapes quoted-pair inside quoted values', () => {
      const list = parseExtensions('x; a="1\\0"') as ExtensionOffer[];
      expect(list[0].params['a']).to.equal('10');
    });

    const bad: Array<[string, string]> = [
      ['empty header', ''],
      ['only whitespace', '   '],
      ['empty element in the middle', 'a,,b'],
      ['leading comma', ', a'],
      ['trailing comma', 'a, '],
      ['empty parameter', 'a;'],
      ['empty parameter between', 'a; ; b'],
      ['missing value after =', 'a; b='],
      ['repeated parameter', 'permessage-deflate; client_max_window_bits; client_max_window_bits=10'],
      ['unterminated quote', 'a; b="10'],
      ['quoted value that is not a token', 'a; b="1 0"'],
      ['empty quoted value', 'a; b=""'],
      ['non-token name', 'a b'],
      ['non-token character', 'a; b=c/d'],
      ['stray characters after a quoted value', 'a; b="1"x'],
      ['control character', 'a\u0001'],
    ];
    for (const [name, header] of bad) {
      it(`rejects: ${name}`, () => {
        const r = parseExtensions(header);
        expect(r).to.be.instanceOf(HandshakeError);
        const err = r as HandshakeError;
        expect(err.status).to.equal(400);
        expect(err.code).to.equal('WS_ERR_HANDSHAKE_EXTENSION');
      });
    }

    it('round-trips through formatExtensions', () => {
      const list: ExtensionOffer[] = [
        { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' } },
        { name: 'x-other', params: {} },
      ];
      const text = formatExtensions(list);
      expect(text).to.equal('permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-other');
      const back = parseExtensions(text) as ExtensionOffer[];
      expect(back.map((e) => ({ name: e.name, params: { ...e.params } }))).to.deep.equal(list);
    });

    it('quotes non-token values when formatting', () => {
      expect(formatExtensions([{ name: 'x', params: { a: 'b c', q: 'say "hi"\\' } }])).to.equal(
        'x; a="b c"; q="say \\"hi\\"\\\\"',
      );
      expect(formatExtensions([])).to.equal('');
    });
  });

  describe('parseProtocols', () => {
    it('returns [] for an absent header', () => {
      expect(parseProtocols(undefined)).to.deep.equal([]);
    });

    it('parses a token list in order, tolerating whitespace', () => {
      expect(parseProtocols('chat, superchat')).to.deep.equal(['chat', 'superchat']);
      expect(parseProtocols(' v2.bookings.example.net ,\tv1.x ')).to.deep.equal(['v2.bookings.example.net', 'v1.x']);
      expect(parseProtocols('single')).to.deep.equal(['single']);
    });

    for (const [name, header] of [
      ['duplicates', 'chat, superchat, chat'],
      ['an empty header', ''],
      ['an empty element', 'chat,,superchat'],
      ['a trailing comma', 'chat,'],
      ['a non-token', 'chat room'],
      ['a separator', 'chat/1'],
    ] as Array<[string, string]>) {
      it(`rejects ${name}`, () => {
        const r = parseProtocols(header);
        expect(r).to.be.instanceOf(HandshakeError);
        expect((r as HandshakeError).code).to.equal('WS_ERR_HANDSHAKE_PROTOCOL');
        expect((r as HandshakeError).status).to.equal(400);
      });
    }

    it('treats differently-cased names as distinct', () => {
      expect(parseProtocols('Chat, chat')).to.deep.equal(['Chat', 'chat']);
    });
  });

  describe('buildClientRequest', () => {
    it('writes the required headers and parses back', () => {
      const text = buildClientRequest({ host: 'example.com:8080', path: '/chat?x=1', key: RFC_KEY });
      expect(text).to.equal(
        'GET /chat?x=1 HTTP/1.1\r\n' +
          'Host: example.com:8080\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${RFC_KEY}\r\n` +
          'Sec-WebSocket-Version: 13\r\n' +
          '\r\n',
      );
      const r = parseRequestHead(Buffer.from(text));
      expect(r.kind).to.equal('done');
      if (r.kind === 'done') {
        const req = accepted(validateClientRequest(r.head, '/chat'));
        expect(req).to.deep.include({ key: RFC_KEY, path: '/chat', query: 'x=1', protocols: [], extensions: [] });
        expect(req.origin).to.equal(undefined);
      }
    });

    it('writes protocols, extensions, origin and extra headers', () => {
      const text = buildClientRequest({
        host: 'h',
        path: '/',
        key: RFC_KEY,
        protocols: ['chat', 'superchat'],
        extensions: [{ name: 'permessage-deflate', params: { client_max_window_bits: true } }],
        origin: 'https://app.example',
        headers: { Authorization: 'Bearer t', 'X-Trace': '1' },
      });
      expect(text).to.contain('Sec-WebSocket-Protocol: chat, superchat\r\n');
      expect(text).to.contain('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n');
      expect(text).to.contain('Origin: https://app.example\r\n');
      expect(text).to.contain('Authorization: Bearer t\r\nX-Trace: 1\r\n\r\n');
      const r = parseRequestHead(Buffer.from(text));
      if (r.kind !== 'done') throw new Error('did not parse');
      const req = accepted(validateClientRequest(r.head));
      expect(req.protocols).to.deep.equal(['chat', 'superchat']);
      expect(req.extensions[0].name).to.equal('permessage-deflate');
      expect(req.origin).to.equal('https://app.example');
      expect(req.headers['authorization']).to.equal('Bearer t');
    });

    it('omits empty protocol/extension lists', () => {
      const text = buildClientRequest({ host: 'h', path: '/', key: RFC_KEY, protocols: [], extensions: [] });
      expect(text).to.not.contain('Sec-WebSocket-Protocol');
      expect(text).to.not.contain('Sec-WebSocket-Extensions');
    });

    it('drops extra headers that would inject lines or duplicate handshake headers', () => {
      const text = buildClientRequest({
        host: 'h',
        path: '/',
        key: RFC_KEY,
        headers: {
          'X-Evil': 'a\r\nX-Injected: 1',
          'Bad Name': 'v',
          host: 'other',
          'Sec-WebSocket-Version': '8',
          'X-Ok': 'fine',
        },
      });
      expect(text).to.not.contain('X-Injected');
      expect(text).to.not.contain('Bad Name');
      expect(text).to.not.contain('other');
      expect(text).to.not.contain('Sec-WebSocket-Version: 8');
      expect(text).to.contain('X-Ok: fine\r\n');
      const r = parseRequestHead(Buffer.from(text));
      expect(r.kind).to.equal('done');
      if (r.kind === 'done') expect(validateClientRequest(r.head).ok).to.equal(true);
    });
  });

  describe('validateClientRequest', () => {
    it('accepts the RFC 6455 §1.2 request and splits path and query', () => {
      const req = accepted(validateClientRequest(requestHead(GOOD_REQUEST)));
      expect(req.key).to.equal(RFC_KEY);
      expect(req.path).to.equal('/chat');
      expect(req.query).to.equal('room=1&x=2');
      expect(req.origin).to.equal('http://example.com');
      expect(req.protocols).to.deep.equal([]);
      expect(req.extensions).to.deep.equal([]);
      expect(req.headers['host']).to.equal('server.example.com');
    });

    it('rejects a non-GET method with 405 and Allow: GET', () => {
      const v = rejected(validateClientRequest(requestHead(['POST /chat HTTP/1.1', ...GOOD_REQUEST.slice(1)])));
      expect(v.status).to.equal(405);
      expect(v.headers).to.deep.equal({ Allow: 'GET' });
      // Methods are case-sensitive (RFC 9110 §9.1).
      expect(rejected(validateClientRequest(requestHead(['get /chat HTTP/1.1', ...GOOD_REQUEST.slice(1)]))).status).to.equal(405);
    });

    it('rejects HTTP/1.0 and HTTP/2.0 request lines with 400 and accepts HTTP/1.2', () => {
      for (const version of ['1.0', '0.9', '2.0', '3.0']) {
        const v = rejected(validateClientRequest(requestHead([`GET /chat HTTP/${version}`, ...GOOD_REQUEST.slice(1)])));
        expect(v.status, version).to.equal(400);
      }
      expect(validateClientRequest(requestHead(['GET /chat HTTP/1.2', ...GOOD_REQUEST.slice(1)])).ok).to.equal(true);
    });

    it('requires exactly one non-empty Host', () => {
      expect(rejected(validateClientRequest(requestHead(withHeader('Host')))).status).to.equal(400);
      expect(rejected(validateClientRequest(requestHead(withHeader('Host', 'Host:')))).status).to.equal(400);
      const twice = [...GOOD_REQUEST, 'host: evil.example'];
      expect(rejected(validateClientRequest(requestHead(twice))).status).to.equal(400);
    });

    it('requires Upgrade to list websocket, case-insensitively', () => {
      const missing = rejected(validateClientRequest(requestHead(withHeader('Upgrade'))));
      expect(missing.status).to.equal(400);
      expect(missing.reason).to.equal('Upgrade: websocket required.');
      expect(rejected(validateClientRequest(requestHead(withHeader('Upgrade', 'Upgrade: h2c')))).status).to.equal(400);
      expect(rejected(validateClientRequest(requestHead(withHeader('Upgrade', 'Upgrade: websockets')))).status).to.equal(400);
      expect(validateClientRequest(requestHead(withHeader('Upgrade', 'UPGRADE: WebSocket')))).to.have.property('ok', true);
      expect(validateClientRequest(requestHead(withHeader('Upgrade', 'Upgrade: h2c, websocket')))).to.have.property('ok', true);
    });

    it('requires Connection to list upgrade (e.g. "keep-alive, Upgrade")', () => {
      expect(validateClientRequest(requestHead(withHeader('Connection', 'Connection: keep-alive, Upgrade')))).to.have.property('ok', true);
      expect(validateClientRequest(requestHead(withHeader('Connection', 'connection: UPGRADE')))).to.have.property('ok', true);
      // Repeated Connection headers combine into one list.
      const repeated = [...withHeader('Connection', 'Connection: keep-alive'), 'Connection: upgrade'];
      expect(validateClientRequest(requestHead(repeated))).to.have.property('ok', true);
      for (const line of [undefined, 'Connection: keep-alive', 'Connection: upgrades', 'Connection: keep-alive upgrade']) {
        const v = rejected(validateClientRequest(requestHead(withHeader('Connection', line))));
        expect(v.status, String(line)).to.equal(400);
      }
    });

    it('requires Sec-WebSocket-Key to be base64 of exactly 16 bytes', () => {
      const fifteen = Buffer.alloc(15, 7).toString('base64'); // 20 chars, no padding
      const seventeen = Buffer.alloc(17, 7).toString('base64'); // 24 chars ending in one '='
      const badKeys = [
        fifteen,
        seventeen,
        'dGhlIHNhbXBsZSBub25jZQ', // unpadded
        'dGhlIHNhbXBsZSBub25jZQ=', // one '='
        'dGhlIHNhbXBsZSBub25jZ!==', // not base64
        'dGhlIHNhbXBsZSBub25jZ-==', // base64url alphabet
        'not a key at all',
        '',
      ];
      for (const key of badKeys) {
        const v = rejected(validateClientRequest(requestHead(withHeader('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${key}`))));
        expect(v.status, JSON.stringify(key)).to.equal(400);
      }
      expect(rejected(validateClientRequest(requestHead(withHeader('Sec-WebSocket-Key')))).status).to.equal(400);
      // A repeated key is ambiguous.
      expect(rejected(validateClientRequest(requestHead([...GOOD_REQUEST, `Sec-WebSocket-Key: ${RFC_KEY}`]))).status).to.equal(400);
    });

    it('answers an unsupported or missing Sec-WebSocket-Version with 426 and Sec-WebSocket-Version: 13', () => {
      for (const line of ['Sec-WebSocket-Version: 8', 'Sec-WebSocket-Version: 14', 'Sec-WebSocket-Version: 13, 8', undefined]) {
        const v = rejected(validateClientRequest(requestHead(withHeader('Sec-WebSocket-Version', line))));
        expect(v.status, String(line)).to.equal(426);
        expect(v.headers).to.deep.equal({ 'Sec-WebSocket-Version': '13' });
      }
    });

    it('returns 404 when expectedPath differs, ignoring the query', () => {
      expect(validateClientRequest(requestHead(GOOD_REQUEST), '/chat')).to.have.property('ok', true);
      const v = rejected(validateClientRequest(requestHead(GOOD_REQUEST), '/other'));
      expect(v.status).to.equal(404);
      expect(rejected(validateClientRequest(requestHead(GOOD_REQUEST), '/chat/')).status).to.equal(404);
    });

    it('accepts absolute-form targets and rejects asterisk-form', () => {
      const abs = accepted(
        validateClientRequest(requestHead(['GET ws://server.example.com/chat?a=b HTTP/1.1', ...GOOD_REQUEST.slice(1)]), '/chat'),
      );
      expect(abs.path).to.equal('/chat');
      expect(abs.query).to.equal('a=b');
      const bare = accepted(validateClientRequest(requestHead(['GET http://h HTTP/1.1', ...GOOD_REQUEST.slice(1)])));
      expect(bare.path).to.equal('/');
      expect(rejected(validateClientRequest(requestHead(['GET * HTTP/1.1', ...GOOD_REQUEST.slice(1)]))).status).to.equal(400);
      const q = accepted(validateClientRequest(requestHead(['GET /?x HTTP/1.1', ...GOOD_REQUEST.slice(1)])));
      expect(q).to.deep.include({ path: '/', query: 'x' });
    });

    it('parses offered protocols and extensions', () => {
      const head = requestHead([
        ...GOOD_REQUEST,
        'Sec-WebSocket-Protocol: chat, superchat',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
      ]);
      const req = accepted(validateClientRequest(head));
      expect(req.protocols).to.deep.equal(['chat', 'superchat']);
      expect(req.extensions).to.have.length(1);
      expect(req.extensions[0].params['client_max_window_bits']).to.equal(true);
    });

    it('rejects bad Sec-WebSocket-Protocol / Sec-WebSocket-Extensions syntax with 400', () => {
      for (const extra of [
        'Sec-WebSocket-Protocol: chat, chat',
        'Sec-WebSocket-Protocol: chat,,x',
        'Sec-WebSocket-Protocol:',
        'Sec-WebSocket-Extensions: permessage-deflate;;',
        'Sec-WebSocket-Extensions: a; b=1; b=2',
        'Sec-WebSocket-Extensions: a,',
      ]) {
        const v = rejected(validateClientRequest(requestHead([...GOOD_REQUEST, extra])));
        expect(v.status, extra).to.equal(400);
        expect(v.headers).to.deep.equal({});
      }
    });

    it('checks in the documented order (method before version before key)', () => {
      const head = requestHead(['POST /x HTTP/1.0', 'Sec-WebSocket-Version: 8']);
      expect(rejected(validateClientRequest(head)).status).to.equal(405);
      const head2 = requestHead(['GET /x HTTP/1.0', 'Sec-WebSocket-Version: 8']);
      expect(rejected(validateClientRequest(head2)).status).to.equal(400);
      const head3 = requestHead([...withHeader('Sec-WebSocket-Version', 'Sec-WebSocket-Version: 8')]);
      expect(rejected(validateClientRequest(head3, '/nope')).status).to.equal(426);
    });
  });

  describe('selectProtocol', () => {
    it("picks the first of the client's offers that the server supports", () => {
      expect(selectProtocol(['b', 'a'], ['a', 'b'])).to.equal('b');
      expect(selectProtocol(['x', 'a'], ['a', 'b'])).to.equal('a');
    });

    it('returns undefined when nothing matches, case-sensitively', () => {
      expect(selectProtocol(['Chat'], ['chat'])).to.equal(undefined);
      expect(selectProtocol([], ['chat'])).to.equal(undefined);
      expect(selectProtocol(['chat'], [])).to.equal(undefined);
    });
  });

  describe('buildServerResponse', () => {
    it('writes the RFC 6455 §1.3 response', () => {
      expect(buildServerResponse({ accept: acceptKey(RFC_KEY) })).to.equal(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
          '\r\n',
      );
    });

    it('writes protocol, extensions and extra headers, and the client accepts it', () => {
      const text = buildServerResponse({
        accept: acceptKey(RFC_KEY),
        protocol: 'chat',
        extensions: [{ name: 'permessage-deflate', params: { server_max_window_bits: '10' } }],
        headers: { 'Set-Cookie': 'sid=1', Upgrade: 'evil', 'X-Bad': 'a\nb' },
      });
      expect(text).to.contain('Sec-WebSocket-Protocol: chat\r\n');
      expect(text).to.contain('Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n');
      expect(text).to.contain('Set-Cookie: sid=1\r\n');
      expect(text).to.not.contain('evil');
      expect(text).to.not.contain('X-Bad');
      const r = parseResponseHead(Buffer.from(text));
      if (r.kind !== 'done') throw new Error('did not parse');
      const v = validateServerResponse(r.head, EXPECT);
      expect(v.ok).to.equal(true);
      if (v.ok) {
        expect(v.protocol).to.equal('chat');
        expect(v.extensions).to.have.length(1);
        expect(v.extensions[0].params['server_max_window_bits']).to.equal('10');
      }
    });

    it("omits the protocol header for ''", () => {
      expect(buildServerResponse({ accept: 'x', protocol: '' })).to.not.contain('Sec-WebSocket-Protocol');
    });
  });

  describe('buildRejection', () => {
    it('writes a complete response with reason as the default body', () => {
      const text = buildRejection(400, 'Upgrade: websocket required.');
      expect(text).to.equal(
        'HTTP/1.1 400 Bad Request\r\n' +
          'Connection: close\r\n' +
          'Content-Type: text/plain; charset=utf-8\r\n' +
          'Content-Length: 28\r\n' +
          '\r\n' +
          'Upgrade: websocket required.',
      );
      const r = parseResponseHead(Buffer.from(text));
      if (r.kind !== 'done') throw new Error('did not parse');
      expect(r.head.status).to.equal(400);
      expect(r.head.statusText).to.equal('Bad Request');
      expect(Buffer.from(text).subarray(r.bodyOffset).toString()).to.equal('Upgrade: websocket required.');
    });

    it('includes extra headers and counts Content-Length in UTF-8 bytes', () => {
      const text = buildRejection(426, 'nope', { 'Sec-WebSocket-Version': '13' }, 'h\u00e9llo \u20ac');
      expect(text.startsWith('HTTP/1.1 426 Upgrade Required\r\n')).to.equal(true);
      expect(text).to.contain('Sec-WebSocket-Version: 13\r\n');
      expect(text).to.contain('Content-Length: 10\r\n'); // h é(2) llo SP €(3)
      const buf = Buffer.from(text, 'utf8');
      const r = parseResponseHead(buf);
      if (r.kind !== 'done') throw new Error('did not parse');
      expect(buf.length - r.bodyOffset).to.equal(Number(r.head.headers['content-length']));
      expect(r.head.headers['sec-websocket-version']).to.equal('13');
    });

    it('knows common status texts and falls back by class', () => {
      const line = (s: number) => buildRejection(s, 'x').split('\r\n')[0];
      expect(line(404)).to.equal('HTTP/1.1 404 Not Found');
      expect(line(405)).to.equal('HTTP/1.1 405 Method Not Allowed');
      expect(line(431)).to.equal('HTTP/1.1 431 Request Header Fields Too Large');
      expect(line(503)).to.equal('HTTP/1.1 503 Service Unavailable');
      expect(line(499)).to.equal('HTTP/1.1 499 Client Error');
      expect(line(599)).to.equal('HTTP/1.1 599 Server Error');
      expect(line(42)).to.equal('HTTP/1.1 500 Internal Server Error');
      expect(line(Number.NaN)).to.equal('HTTP/1.1 500 Internal Server Error');
    });

    it('lets Content-Type be replaced but not Connection or Content-Length', () => {
      const text = buildRejection(403, 'no', {
        'content-type': 'application/json',
        Connection: 'keep-alive',
        'Content-Length': '999',
      }, '{}');
      expect(text).to.contain('Content-Type: application/json\r\n');
      expect(text).to.not.contain('text/plain');
      expect(text).to.not.contain('keep-alive');
      expect(text).to.not.contain('999');
      expect(text).to.contain('Content-Length: 2\r\n');
      expect(text.match(/content-type/gi)).to.have.length(1);
    });
  });

  describe('validateServerResponse', () => {
    it('accepts the RFC 6455 §1.3 response (no protocol chosen is allowed)', () => {
      const v = validateServerResponse(responseHead(GOOD_RESPONSE), EXPECT);
      expect(v).to.deep.equal({ ok: true, protocol: '', extensions: [] });
    });

    it('accepts token-list and mixed-case Upgrade/Connection values', () => {
      const head = responseHead([
        'HTTP/1.1 101 Switching Protocols',
        'upgrade: WebSocket',
        'CONNECTION: keep-alive, upgrade',
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}`,
      ]);
      expect(validateServerResponse(head, EXPECT).ok).to.equal(true);
    });

    it('fails with WS_ERR_HANDSHAKE_STATUS and the response status for non-101', () => {
      const head = responseHead(['HTTP/1.1 403 Forbidden', 'Content-Length: 0', 'X-Why: policy']);
      const err = failed(validateServerResponse(head, EXPECT));
      expect(err.code).to.equal('WS_ERR_HANDSHAKE_STATUS');
      expect(err.status).to.equal(403);
      expect(err.message).to.contain('403').and.contain('Forbidden');
      expect(err.headers['x-why']).to.equal('policy');
      const redirect = failed(validateServerResponse(responseHead(['HTTP/1.1 302 Found', 'Location: /x']), EXPECT));
      expect(redirect.status).to.equal(302);
      expect(redirect.headers['location']).to.equal('/x');
      expect(failed(validateServerResponse(responseHead(['HTTP/1.1 200 OK', ...GOOD_RESPONSE.slice(1)]), EXPECT)).status).to.equal(200);
    });

    const headerFailures: Array<[string, string[], string]> = [
      ['missing Upgrade', ['Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`], 'WS_ERR_HANDSHAKE_UPGRADE'],
      ['wrong Upgrade', ['Upgrade: h2c', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`], 'WS_ERR_HANDSHAKE_UPGRADE'],
      ['missing Connection', ['Upgrade: websocket', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`], 'WS_ERR_HANDSHAKE_CONNECTION'],
      ['wrong Connection', ['Upgrade: websocket', 'Connection: keep-alive', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`], 'WS_ERR_HANDSHAKE_CONNECTION'],
      ['missing Sec-WebSocket-Accept', ['Upgrade: websocket', 'Connection: Upgrade'], 'WS_ERR_HANDSHAKE_ACCEPT'],
      ['wrong Sec-WebSocket-Accept', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(generateKey())}`], 'WS_ERR_HANDSHAKE_ACCEPT'],
      ['lowercased Sec-WebSocket-Accept', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT.toLowerCase()}`], 'WS_ERR_HANDSHAKE_ACCEPT'],
      ['repeated Sec-WebSocket-Accept', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`, `Sec-WebSocket-Accept: ${RFC_ACCEPT}`], 'WS_ERR_HANDSHAKE_ACCEPT'],
      ['a protocol not offered', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Protocol: other'], 'WS_ERR_HANDSHAKE_PROTOCOL'],
      ['two protocols in one header', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Protocol: chat, superchat'], 'WS_ERR_HANDSHAKE_PROTOCOL'],
      ['two protocol headers', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Protocol: chat'], 'WS_ERR_HANDSHAKE_PROTOCOL'],
      ['an empty protocol', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Protocol:'], 'WS_ERR_HANDSHAKE_PROTOCOL'],
      ['an extension not offered', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Extensions: x-webkit-deflate-frame'], 'WS_ERR_HANDSHAKE_EXTENSION'],
      ['a repeated extension', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate'], 'WS_ERR_HANDSHAKE_EXTENSION'],
      ['a malformed extension header', [...GOOD_RESPONSE.slice(1), 'Sec-WebSocket-Extensions: permessage-deflate;'], 'WS_ERR_HANDSHAKE_EXTENSION'],
    ];
    for (const [name, headers, code] of headerFailures) {
      it(`fails with ${code} on ${name}, status 101`, () => {
        const err = failed(validateServerResponse(responseHead(['HTTP/1.1 101 Switching Protocols', ...headers]), EXPECT));
        expect(err.code).to.equal(code);
        expect(err.status).to.equal(101);
        expect(err.closeCode).to.equal(1006);
      });
    }

    it('fails with WS_ERR_HANDSHAKE_PROTOCOL when the server picks a protocol but none was offered', () => {
      const head = responseHead([...GOOD_RESPONSE, 'Sec-WebSocket-Protocol: chat']);
      const err = failed(validateServerResponse(head, { key: RFC_KEY, protocols: [], extensions: [] }));
      expect(err.code).to.equal('WS_ERR_HANDSHAKE_PROTOCOL');
    });

    it('fails with WS_ERR_HANDSHAKE_EXTENSION when no extension was offered', () => {
      const head = responseHead([...GOOD_RESPONSE, 'Sec-WebSocket-Extensions: permessage-deflate']);
      const err = failed(validateServerResponse(head, { key: RFC_KEY, protocols: [], extensions: [] }));
      expect(err.code).to.equal('WS_ERR_HANDSHAKE_EXTENSION');
    });

    it('returns the chosen protocol and accepted extensions', () => {
      const head = responseHead([
        ...GOOD_RESPONSE,
        'Sec-WebSocket-Protocol: superchat',
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits="12"',
      ]);
      const v = validateServerResponse(head, EXPECT);
      if (!v.ok) throw new Error(v.error.message);
      expect(v.protocol).to.equal('superchat');
      expect(v.extensions.map((e) => ({ name: e.name, params: { ...e.params } }))).to.deep.equal([
        { name: 'permessage-deflate', params: { server_no_context_takeover: true, client_max_window_bits: '12' } },
      ]);
    });
  });

  describe('round trip', () => {
    it('client request -> server validation -> server response -> client validation', () => {
      const key = generateKey();
      const reqText = buildClientRequest({
        host: 'localhost:9001',
        path: '/echo?v=1',
        key,
        protocols: ['v2', 'v1'],
        extensions: [{ name: 'permessage-deflate', params: { client_max_window_bits: true } }],
      });
      const parsedReq = parseRequestHead(Buffer.from(reqText));
      if (parsedReq.kind !== 'done') throw new Error('request did not parse');
      const req = accepted(validateClientRequest(parsedReq.head, '/echo'));
      const protocol = selectProtocol(req.protocols, ['v1', 'v2']);
      expect(protocol).to.equal('v2');
      const resText = buildServerResponse({ accept: acceptKey(req.key), protocol });
      const parsedRes = parseResponseHead(Buffer.from(resText));
      if (parsedRes.kind !== 'done') throw new Error('response did not parse');
      const v = validateServerResponse(parsedRes.head, {
        key,
        protocols: ['v2', 'v1'],
        extensions: ['permessage-deflate'],
      });
      expect(v).to.deep.equal({ ok: true, protocol: 'v2', extensions: [] });
    });
  });
});
