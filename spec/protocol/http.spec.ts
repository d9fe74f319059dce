import { expect } from 'chai';
import { HandshakeError } from '../../lib/protocol/errors';
import { rng } from '../helpers';
import {
  DEFAULT_MAX_HEAD_SIZE,
  createRecord,
  isHeaderValue,
  isToken,
  isTokenChar,
  parseRequestHead,
  parseResponseHead,
  type HeadResult,
  type HttpRequestHead,
  type HttpResponseHead,
} from '../../lib/protocol/http';

const REQUEST =
  'GET /chat?room=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';

const RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
  'Sec-WebSocket-Protocol: chat\r\n' +
  '\r\n';

function req(text: string, maxSize?: number): HeadResult<HttpRequestHead> {
  return parseRequestHead(Buffer.from(text, 'latin1'), maxSize);
}

function res(text: string, maxSize?: number): HeadResult<HttpResponseHead> {
  return parseResponseHead(Buffer.from(text, 'latin1'), maxSize);
}

function doneReq(text: string): { head: HttpRequestHead; bodyOffset: number } {
  const r = req(text);
  if (r.kind !== 'done') throw new Error(`expected done, got ${r.kind}: ${r.kind === 'error' ? r.error.message : ''}`);
  return r;
}

function doneRes(text: string): { head: HttpResponseHead; bodyOffset: number } {
  const r = res(text);
  if (r.kind !== 'done') throw new Error(`expected done, got ${r.kind}: ${r.kind === 'error' ? r.error.message : ''}`);
  return r;
}

function expectError<T>(r: HeadResult<T>, status = 400): HandshakeError {
  expect(r.kind).to.equal('error');
  if (r.kind !== 'error') throw new Error('unreachable');
  expect(r.error).to.be.instanceOf(HandshakeError);
  expect(r.error.status).to.equal(status);
  expect(r.error.closeCode).to.equal(1006);
  return r.error;
}


describe('protocol/http', () => {
  describe('parseRequestHead', () => {
    it('parses the RFC 6455 §1.2 example request', () => {
      const { head, bodyOffset } = doneReq(REQUEST);
      expect(bodyOffset).to.equal(Buffer.byteLength(REQUEST));
      expect(head.method).to.equal('GET');
      expect(head.target).to.equal('/chat?room=1');
      expect(head.version).to.equal('1.1');
      expect({ ...head.headers }).to.deep.equal({
        host: 'server.example.com',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-version': '13',
      });
      expect(head.rawHeaders.slice(0, 4)).to.deep.equal(['Host', 'server.example.com', 'Upgrade', 'websocket']);
      expect(head.rawHeaders).to.have.length(14);
    });

    it('returns the offset of the first byte after CRLFCRLF when bytes follow', () => {
      const buf = Buffer.concat([Buffer.from(REQUEST), Buffer.from([0x81, 0x85, 1, 2, 3, 4])]);
      const r = parseRequestHead(buf);
      expect(r.kind).to.equal('done');
      if (r.kind === 'done') {
        expect(r.bodyOffset).to.equal(Buffer.byteLength(REQUEST));
        expect(buf[r.bodyOffset]).to.equal(0x81);
      }
    });

    it('is incomplete for every proper prefix and done (same head) at every split offset', () => {
      const full = Buffer.from(REQUEST);
      const expected = doneReq(REQUEST);
      for (let len = 0; len < full.length; len++) {
        const r = parseRequestHead(full.subarray(0, len));
        expect(r.kind, `prefix of ${len} bytes`).to.equal('incomplete');
      }
      // Feed byte by byte with searchFrom = previous length - 3, as a caller would.
      let prev = 0;
      let result: HeadResult<HttpRequestHead> = { kind: 'incomplete' };
      for (let len = 1; len <= full.length; len++) {
        result = parseRequestHead(full.subarray(0, len), undefined, prev - 3);
        if (len < full.length) expect(result.kind, `byte-by-byte at ${len}`).to.equal('incomplete');
        prev = len;
      }
      expect(result).to.deep.equal({ kind: 'done', ...expected });
      // Two chunks, split at every offset.
      for (let cut = 1; cut < full.length; cut++) {
        const first = parseRequestHead(full.subarray(0, cut));
        expect(first.kind).to.equal('incomplete');
        const second = parseRequestHead(full, undefined, cut - 3);
        expect(second, `split at ${cut}`).to.deep.equal({ kind: 'done', ...expected });
      }
    });

    it('matches header names case-insensitively and keeps raw case', () => {
      const { head } = doneReq('GET / HTTP/1.1\r\nhOsT: a\r\nUPGRADE: websocket\r\nsec-WEBSOCKET-key: k\r\n\r\n');
      expect(head.headers['host']).to.equal('a');
      expect(head.headers['upgrade']).to.equal('websocket');
      expect(head.headers['sec-websocket-key']).to.equal('k');
      expect(head.rawHeaders).to.deep.equal(['hOsT', 'a', 'UPGRADE', 'websocket', 'sec-WEBSOCKET-key', 'k']);
    });

    it("joins repeated headers with ', ' and Set-Cookie with '\\n'", () => {
      const { head } = doneReq(
        'GET / HTTP/1.1\r\nConnection: keep-alive\r\nconnection: Upgrade\r\n' +
          'Set-Cookie: a=1, b\r\nSet-Cookie: c=2\r\n\r\n',
      );
      expect(head.headers['connection']).to.equal('keep-alive, Upgrade');
      expect(head.headers['set-cookie']).to.equal('a=1, b\nc=2');
      expect(head.rawHeaders).to.have.length(8);
    });

    it('trims optional whitespace (SP and HTAB) around values and keeps inner whitespace', () => {
      const { head } = doneReq('GET / HTTP/1.1\r\nX-A: \t a  b \t\r\nX-B:\r\nX-C:   \r\n\r\n');
      expect(head.headers['x-a']).to.equal('a  b');
      expect(head.headers['x-b']).to.equal('');
      expect(head.headers['x-c']).to.equal('');
    });

    it('keeps obs-text bytes as Latin-1 characters', () => {
      const buf = Buffer.concat([
        Buffer.from('GET / HTTP/1.1\r\nX-Name: caf'),
        Buffer.from([0xe9]),
        Buffer.from('\r\n\r\n'),
      ]);
      const r = parseRequestHead(buf);
      expect(r.kind).to.equal('done');
      if (r.kind === 'done') expect(r.head.headers['x-name']).to.equal('caf\u00e9');
    });

    it('uses a headers object that inherits no names (constructor, __proto__, toString)', () => {
      const { head } = doneReq(
        'GET / HTTP/1.1\r\nconstructor: x\r\n__proto__: y\r\nConstructor: z\r\nhasOwnProperty: w\r\n\r\n',
      );
      expect(head.headers['constructor']).to.equal('x, z');
      expect(head.headers['__proto__']).to.equal('y');
      expect(head.headers['hasownproperty']).to.equal('w');
      expect(Object.keys(head.headers)).to.deep.equal(['constructor', '__proto__', 'hasownproperty']);
      const empty = doneReq('GET / HTTP/1.1\r\n\r\n').head.headers;
      for (const name of ['toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty']) {
        expect(empty[name], name).to.equal(undefined);
      }
      const fresh = createRecord<string>();
      expect(fresh['constructor']).to.equal(undefined);
      expect(Object.keys(fresh)).to.deep.equal([]);
    });

    it('parses a request with no headers and other methods and versions', () => {
      const { head, bodyOffset } = doneReq('POST /x HTTP/1.0\r\n\r\n');
      expect(head).to.deep.include({ method: 'POST', target: '/x', version: '1.0' });
      expect(bodyOffset).to.equal(20);
      expect(doneReq('GET * HTTP/2.0\r\n\r\n').head.version).to.equal('2.0');
    });

    describe('rejects malformed heads with 400', () => {
      const cases: Array<[string, string]> = [
        ['bare LF line ending', 'GET / HTTP/1.1\nHost: a\n\n'],
        ['bare LF inside the head', 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'],
        ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n'],
        ['bare CR at the end of a value', 'GET / HTTP/1.1\r\nHost: a\r\r\n\r\n'],
        ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\u0000b\r\n\r\n'],
        ['control char in a value', 'GET / HTTP/1.1\r\nHost: a\u0001b\r\n\r\n'],
        ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\u007fb\r\n\r\n'],
        ['obs-fold', 'GET / HTTP/1.1\r\nX-A: a\r\n  continued\r\n\r\n'],
        ['obs-fold with HTAB', 'GET / HTTP/1.1\r\nX-A: a\r\n\tcontinued\r\n\r\n'],
        ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
        ['space inside a header name', 'GET / HTTP/1.1\r\nX A: a\r\n\r\n'],
        ['non-token char in a header name', 'GET / HTTP/1.1\r\nX(A): a\r\n\r\n'],
        ['empty header name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
        ['header line without colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n'],
        ['leading empty line', '\r\nGET / HTTP/1.1\r\n\r\n'],
        ['missing target', 'GET HTTP/1.1\r\n\r\n'],
        ['two spaces after method', 'GET  / HTTP/1.1\r\n\r\n'],
        ['space in target', 'GET /a b HTTP/1.1\r\n\r\n'],
        ['control char in target', 'GET /a\u0001 HTTP/1.1\r\n\r\n'],
        ['lowercase http', 'GET / http/1.1\r\n\r\n'],
        ['two-digit version', 'GET / HTTP/1.10\r\n\r\n'],
        ['missing version', 'GET /\r\n\r\n'],
        ['trailing space after version', 'GET / HTTP/1.1 \r\n\r\n'],
        ['non-token method', 'G(T / HTTP/1.1\r\n\r\n'],
        ['leading space', ' GET / HTTP/1.1\r\n\r\n'],
      ];
      for (const [name, text] of cases) {
        it(name, () => {
          const err = expectError(req(text));
          expect(err.code).to.equal('WS_ERR_HANDSHAKE_HTTP');
          expect(err.message).to.be.a('string').and.not.equal('');
        });
      }
    });

    it('rejects a bare LF before the head is complete (fails fast)', () => {
      expectError(req('GET / HTTP/1.1\n'));
    });

    it('rejects a non-token first byte before the head is complete', () => {
      expectError(req('\u0016\u0003\u0001'));
      expectError(req('{'));
    });

    it('accepts a head of exactly maxSize bytes and rejects one byte more with 431', () => {
      const base = 'GET / HTTP/1.1\r\nX-Pad: \r\n\r\n';
      const size = 100;
      const exact = base.replace('X-Pad: ', 'X-Pad: ' + 'a'.repeat(size - base.length));
      expect(Buffer.byteLength(exact)).to.equal(size);
      const ok = req(exact, size);
      expect(ok.kind).to.equal('done');
      const over = exact.replace('X-Pad: ', 'X-Pad: a');
      const err = expectError(req(over, size), 431);
      expect(err.code).to.equal('WS_ERR_HANDSHAKE_HEAD_TOO_LARGE');
    });

    it('returns 431 once maxSize bytes arrived without the end of the head', () => {
      const size = 64;
      const text = 'GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(200);
      expect(req(text.slice(0, size - 1), size).kind).to.equal('incomplete');
      expectError(req(text.slice(0, size), size), 431);
      expectError(req(text, size), 431);
    });

    it('defaults maxSize to 16384', () => {
      expect(DEFAULT_MAX_HEAD_SIZE).to.equal(16384);
      const big = 'GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(16384);
      expectError(req(big), 431);
      const fits = 'GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(16000) + '\r\n\r\n';
      expect(req(fits).kind).to.equal('done');
    });

    it('ignores nonsense maxSize and searchFrom values', () => {
      const buf = Buffer.from(REQUEST);
      expect(parseRequestHead(buf, -5, -100).kind).to.equal('done');
      expect(parseRequestHead(buf, Number.NaN, Number.NaN).kind).to.equal('done');
      expect(parseRequestHead(buf, 0, 0).kind).to.equal('done');
    });

    it('stays linear on a large head (many headers)', () => {
      let text = 'GET / HTTP/1.1\r\n';
      for (let i = 0; i < 5000; i++) text += `X-H${i}: v${i}\r\n`;
      text += '\r\n';
      const buf = Buffer.from(text);
      const r = parseRequestHead(buf, buf.length);
      expect(r.kind).to.equal('done');
      if (r.kind === 'done') {
        expect(r.head.rawHeaders).to.have.length(10000);
        expect(r.head.headers['x-h4999']).to.equal('v4999');
      }
    });

    it('never throws on random garbage and returns a well-formed result', () => {
      const rand = rng(0x5eed);
      const alphabet = Buffer.from('GET /HTTP1.:\r\n \t\u0000a-=');
      for (let n = 0; n < 3000; n++) {
        const len = Math.floor(rand() * 200);
        const buf = Buffer.alloc(len);
        const structured = n % 2 === 0;
        for (let i = 0; i < len; i++) {
          buf[i] = structured ? alphabet[Math.floor(rand() * alphabet.length)] : Math.floor(rand() * 256);
        }
        const maxSize = 1 + Math.floor(rand() * 256);
        for (const r of [parseRequestHead(buf, maxSize), parseResponseHead(buf, maxSize)]) {
          expect(['incomplete', 'done', 'error']).to.include(r.kind);
          if (r.kind === 'error') expect(r.error).to.be.instanceOf(HandshakeError);
          if (r.kind === 'done') expect(r.bodyOffset).to.be.at.most(Math.min(len, maxSize));
        }
      }
    });

    it('never throws on mutated valid requests', () => {
      const rand = rng(42);
      const base = Buffer.from(REQUEST);
      let done = 0;
      for (let n = 0; n < 3000; n++) {
        const buf = Buffer.from(base);
        const flips = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < flips; k++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
        const r = parseRequestHead(buf);
        expect(['incomplete', 'done', 'error']).to.include(r.kind);
        if (r.kind === 'done') done++;
      }
      // Some mutations (inside values) still parse; most structural ones fail.
      expect(done).to.be.greaterThan(0);
    });
  });

  describe('parseResponseHead', () => {
    it('parses the RFC 6455 §1.2 example response', () => {
      const { head, bodyOffset } = doneRes(RESPONSE);
      expect(bodyOffset).to.equal(RESPONSE.length);
      expect(head.version).to.equal('1.1');
      expect(head.status).to.equal(101);
      expect(head.statusText).to.equal('Switching Protocols');
      expect(head.headers['sec-websocket-accept']).to.equal('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      expect(head.headers['sec-websocket-protocol']).to.equal('chat');
      expect(head.rawHeaders).to.have.length(8);
    });

    it('accepts an empty reason phrase, with or without the trailing space', () => {
      expect(doneRes('HTTP/1.1 101 \r\n\r\n').head).to.deep.include({ status: 101, statusText: '' });
      expect(doneRes('HTTP/1.1 101\r\n\r\n').head).to.deep.include({ status: 101, statusText: '' });
      expect(doneRes('HTTP/1.0 404 Not Found at all\r\n\r\n').head).to.deep.include({
        version: '1.0',
        status: 404,
        statusText: 'Not Found at all',
      });
    });

    it('is incomplete for every proper prefix, then done with the same head', () => {
      const full = Buffer.from(RESPONSE);
      const expected = doneRes(RESPONSE);
      for (let len = 0; len < full.length; len++) {
        expect(parseResponseHead(full.subarray(0, len), undefined, len - 3).kind, `prefix ${len}`).to.equal(
          'incomplete',
        );
      }
      expect(parseResponseHead(full, undefined, full.length - 4)).to.deep.equal({ kind: 'done', ...expected });
    });

    describe('rejects malformed status lines and headers with 400', () => {
      const cases: Array<[string, string]> = [
        ['not HTTP', 'HTTX/1.1 101 OK\r\n\r\n'],
        ['garbage first byte', 'xHTTP/1.1 101 OK\r\n\r\n'],
        ['two-digit status', 'HTTP/1.1 10 OK\r\n\r\n'],
        ['four-digit status', 'HTTP/1.1 1010 OK\r\n\r\n'],
        ['non-digit status', 'HTTP/1.1 1x1 OK\r\n\r\n'],
        ['missing status', 'HTTP/1.1\r\n\r\n'],
        ['tab instead of space', 'HTTP/1.1\t101 OK\r\n\r\n'],
        ['control char in reason', 'HTTP/1.1 101 O\u0001K\r\n\r\n'],
        ['bare LF', 'HTTP/1.1 101 OK\n\n'],
        ['obs-fold', 'HTTP/1.1 101 OK\r\nUpgrade: a\r\n b\r\n\r\n'],
        ['NUL in a value', 'HTTP/1.1 101 OK\r\nUpgrade: a\u0000\r\n\r\n'],
      ];
      for (const [name, text] of cases) {
        it(name, () => {
          expectError(res(text));
        });
      }
    });

    it('returns 431 for a response head over maxSize', () => {
      expectError(res('HTTP/1.1 101 OK\r\nX: ' + 'a'.repeat(100) + '\r\n\r\n', 64), 431);
    });
  });

  describe('isToken / isHeaderValue', () => {
    it('classifies tokens (RFC 9110 §5.6.2)', () => {
      expect(isToken('permessage-deflate')).to.equal(true);
      expect(isToken("!#$%&'*+-.^_`|~09AZaz")).to.equal(true);
      expect(isToken('')).to.equal(false);
      expect(isToken('a b')).to.equal(false);
      expect(isToken('a,b')).to.equal(false);
      expect(isToken('a"b')).to.equal(false);
      expect(isToken('caf\u00e9')).to.equal(false);
      expect(isToken('\u0100')).to.equal(false);
      expect(isTokenChar(0x61)).to.equal(true);
      expect(isTokenChar(0x2c)).to.equal(false);
      expect(isTokenChar(0x161)).to.equal(false);
    });

    it('classifies header values (RFC 9110 §5.5)', () => {
      expect(isHeaderValue('text/plain; charset=utf-8')).to.equal(true);
      expect(isHeaderValue('')).to.equal(true);
      expect(isHeaderValue('a\tb')).to.equal(true);
      expect(isHeaderValue('a\r\nX-Evil: 1')).to.equal(false);
      expect(isHeaderValue('a\u0000')).to.equal(false);
      expect(isHeaderValue(' a')).to.equal(false);
      expect(isHeaderValue('a ')).to.equal(false);
      expect(isHeaderValue('\u20ac')).to.equal(false);
    });
  });
});
