/**
 * Interop with a real browser (issue 5, "Real peers nobody here wrote"):
 * headless Chromium loads a page from a tiny HTTP server on 127.0.0.1; the
 * page opens `new WebSocket('ws://127.0.0.1:PORT')` to a ws-rx `listen` echo
 * server, round-trips text and binary, and reports the close code and reason
 * it saw. The server sees the code the browser closes with.
 *
 * Chromium always offers permessage-deflate: one variant runs with ws-rx's
 * `perMessageDeflate` on (frames travel compressed), one with it off (ws-rx
 * declines the offer).
 */
import { expect } from 'chai';
import * as http from 'node:http';
import type * as net from 'node:net';
import { CHROMIUM_PATH, Chromium, chromiumAvailable } from './chromium';
import {
  EchoServer,
  SIZES,
  bytesOf,
  deflateOption,
  drainWire,
  peerMissing,
  sizeLabel,
  startEchoServer,
  textOfBytes,
  withTimeout,
} from './support';

/**
 * The page's test driver. Payload generators match `textOfBytes` and
 * `bytesOf` in ./support: the server checks what it received against them.
 * Every wait in the page is bounded too.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>ws-rx interop</title>
<script>
'use strict';
const LIMIT = 10000;
function bounded(promise, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('page timed out waiting for ' + what)), LIMIT))]);
}
function makeText(n) {
  return 'a\\u00e9\\u20ac\\ud834\\udd1e '.repeat(Math.floor(n / 11)) + 'x'.repeat(n % 11);
}
function makeBytes(n) {
  const out = new Uint8Array(n);
  let a = (n * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}
function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
let sock = null;
let inbox = [];
let wake = null;
let closed = null;
window.wsOpen = (url) => bounded(new Promise((resolve, reject) => {
  sock = new WebSocket(url);
  sock.binaryType = 'arraybuffer';
  inbox = [];
  closed = new Promise((resolveClosed) => {
    sock.onclose = (e) => { resolveClosed({ code: e.code, reason: e.reason, wasClean: e.wasClean }); if (wake) wake(); };
  });
  sock.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
  sock.onopen = () => resolve({ extensions: sock.extensions, protocol: sock.protocol });
  sock.onerror = () => reject(new Error('WebSocket error before open'));
}), 'open');
async function nextMessage() {
  while (inbox.length === 0) {
    if (sock.readyState === WebSocket.CLOSED) throw new Error('closed while waiting for a message');
    await bounded(new Promise((resolve) => (wake = resolve)), 'a message');
  }
  return inbox.shift();
}
window.wsEcho = async (kind, size) => {
  const sent = kind === 'text' ? makeText(size) : makeBytes(size);
  sock.send(sent);
  const got = await nextMessage();
  if (kind === 'text') {
    return { type: typeof got === 'string' ? 'text' : 'binary', length: typeof got === 'string' ? new TextEncoder().encode(got).length : -1, equal: got === sent };
  }
  const bytes = got instanceof ArrayBuffer ? new Uint8Array(got) : null;
  return { type: bytes ? 'binary' : 'text', length: bytes ? bytes.length : -1, equal: bytes !== null && equalBytes(bytes, sent) };
};
window.wsClose = (code, reason) => { sock.close(code, reason); return bounded(closed, 'the close'); };
window.wsClosed = () => bounded(closed, 'the close');
</script>
`;

interface EchoResult {
  type: string;
  length: number;
  equal: boolean;
}

interface CloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** Serves PAGE at / on 127.0.0.1. */
async function startPageServer(): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await withTimeout(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 5000, 'page server');
  return { server, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/` };
}

const VARIANTS = [
  { name: 'Chromium offers permessage-deflate, ws-rx declines', rx: false, deflated: false },
  { name: 'permessage-deflate', rx: true, deflated: true },
];

describe('interop: headless Chromium', function () {
  this.timeout(60_000);
  let browser: Chromium | null = null;
  let page: { server: http.Server; url: string } | null = null;

  before(async function () {
    if (!chromiumAvailable()) peerMissing(this, `chromium (${CHROMIUM_PATH})`, 'apt-get install chromium');
    page = await startPageServer();
    browser = await Chromium.launch();
  });

  after(async () => {
    await browser?.close();
    browser = null;
    await new Promise<void>((resolve) => (page ? page.server.close(() => resolve()) : resolve()));
    page?.server.closeAllConnections();
  });

  for (const variant of VARIANTS) {
    describe(`Chromium WebSocket → ws-rx listen (${variant.name})`, function () {
      let echo: EchoServer | null = null;

      before(async function () {
        if (browser === null) this.skip();
        echo = await startEchoServer(deflateOption(variant.rx), { frames: true });
      });

      after(() => echo?.stop());

      beforeEach(async () => {
        // A fresh page per test: no socket or state carries over.
        await browser!.goto(page!.url);
      });

      async function open(): Promise<{ extensions: string }> {
        return browser!.evaluate<{ extensions: string }>(`wsOpen('ws://127.0.0.1:${echo!.port}/')`);
      }

      it(`negotiates ${variant.deflated ? 'permessage-deflate' : 'no extension'}`, async () => {
        const opened = await open();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        expect(ep.conn.request.headers['sec-websocket-extensions'] ?? '').to.match(/permessage-deflate/);
        if (variant.deflated) {
          expect(opened.extensions).to.match(/^permessage-deflate/);
          expect(ep.conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
        } else {
          expect(opened.extensions).to.equal('');
          expect(ep.conn.extensions).to.deep.equal([]);
        }
        await browser!.evaluate('wsClose(1000, "")');
        await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
      });

      for (const kind of ['text', 'binary'] as const) {
        it(`round-trips ${kind} of ${SIZES.map(sizeLabel).join(', ')}`, async () => {
          await open();
          const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
          for (const size of SIZES) {
            const r = await browser!.evaluate<EchoResult>(`wsEcho('${kind}', ${size})`);
            // What ws-rx received is what the page generated.
            const received = await ep.messages.next(1000, `ws-rx to have received ${kind} ${sizeLabel(size)}`);
            if (kind === 'text') {
              expect(received === textOfBytes(size), `server got text ${sizeLabel(size)}`).to.equal(true);
            } else {
              expect(Buffer.isBuffer(received) && received.equals(bytesOf(size)), `server got binary ${sizeLabel(size)}`).to.equal(true);
            }
            // And the page got its own message back, intact and of the same type.
            expect(r, `${kind} ${sizeLabel(size)}`).to.deep.equal({ type: kind, length: size, equal: true });
          }
          await browser!.evaluate('wsClose(1000, "")');
          const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
          expect(info).to.include({ code: 1000, wasClean: true });
        });
      }

      it(`RSV1 on the wire: ${variant.deflated ? 'Chromium compresses' : 'never'}`, async () => {
        await open();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        const r = await browser!.evaluate<EchoResult>(`wsEcho('text', 65536)`);
        expect(r).to.deep.equal({ type: 'text', length: 65536, equal: true });
        expect(await ep.messages.next(1000, 'the message on ws-rx')).to.equal(textOfBytes(65536));
        const wire = drainWire(ep.frames!);
        if (variant.deflated) {
          expect(wire.rsv1, 'compressed frames (RFC 7692 §6)').to.equal(true);
          expect(wire.bytes, 'bytes on the wire').to.be.below(65536 / 4);
        } else {
          expect(wire).to.deep.equal({ rsv1: false, bytes: 65536 });
        }
        await browser!.evaluate('wsClose(1000, "")');
      });

      it('the page sees the code and reason ws-rx closes with (4000 bye)', async () => {
        await open();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        ep.conn.close(4000, 'bye');
        const seen = await browser!.evaluate<CloseEvent>('wsClosed()');
        expect(seen).to.deep.equal({ code: 4000, reason: 'bye', wasClean: true });
        const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to finish closing');
        expect(info).to.include({ code: 4000, wasClean: true });
      });

      it('ws-rx sees the code and reason the page closes with (4001 from browser)', async () => {
        await open();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        const seen = await browser!.evaluate<CloseEvent>('wsClose(4001, "from browser")');
        const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
        expect(info).to.include({ code: 4001, reason: 'from browser', wasClean: true });
        expect(seen).to.include({ code: 4001, wasClean: true });
      });
    });
  }
});
