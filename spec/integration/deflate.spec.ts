/**
 * permessage-deflate on loopback: ws-rx against itself and against the `ws`
 * package (perMessageDeflate on, as client and as server), every parameter
 * combination, messages from 0 bytes to 16 MiB; the 1009 deflate bomb with
 * bounded memory; corrupt data (1007) from a raw peer; the threshold, the
 * send hook seeing RSV1, and the order of messages and the close frame.
 */
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { firstValueFrom, take, toArray } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, Connection, ConnectionClosedError, Frame, PerMessageDeflateOptions } from '../../lib';
import { acceptKey } from '../../lib/protocol/handshake';
import { clientFrame } from '../helpers';
import { loopbackScope, openClient, within, wsOpen } from './util';

/** Compressible but not trivial: text from a small vocabulary, seeded. */
function textOf(size: number, seed = 1): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'ws-rx', 'deflate', 'frame', 'τέλος', '✓'];
  const parts: string[] = [];
  let bytes = 0;
  let x = seed;
  while (bytes < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length] + ' ';
    parts.push(w);
    bytes += Buffer.byteLength(w);
  }
  const b = Buffer.from(parts.join(''));
  let end = size;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // cut at a character boundary
  return b.toString('utf8', 0, end);
}
function bytesOf(size: number): Buffer {
  // Half random, half repetitive: zlib has work on both.
  const b = Buffer.alloc(size, 0x42);
  crypto.randomFillSync(b, 0, size >> 1);
  return b;
}
const SIZES = [0, 1, 125, 1023, 1024, 65_535, 65_536, 1 << 20, 16 << 20];
const label = (n: number): string => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n} B`);

/** Every combination of the four parameters (window bits: unset, 9, 15). */
function combinations(): PerMessageDeflateOptions[] {
  const out: PerMessageDeflateOptions[] = [];
  for (const serverNoContextTakeover of [false, true])
    for (const clientNoContextTakeover of [false, true])
      for (const serverMaxWindowBits of [undefined, 9, 15])
        for (const clientMaxWindowBits of [undefined, 10, 15]) {
          const o: PerMessageDeflateOptions = { threshold: 0 };
          if (serverNoContextTakeover) o.serverNoContextTakeover = true;
          if (clientNoContextTakeover) o.clientNoContextTakeover = true;
          if (serverMaxWindowBits !== undefined) o.serverMaxWindowBits = serverMaxWindowBits;
          if (clientMaxWindowBits !== undefined) o.clientMaxWindowBits = clientMaxWindowBits;
          out.push(o);
        }
  return out;
}
const describeCombo = (o: PerMessageDeflateOptions): string => JSON.stringify({ ...o, threshold: undefined });

/** Sends `messages` and collects as many echoes. */
async function roundTrip(conn: Connection, messages: (string | Buffer)[], ms = 20_000): Promise<(string | Buffer)[]> {
  const replies = firstValueFrom(conn.messages$.pipe(take(messages.length), toArray()));
  for (const m of messages) conn.send(m);
  return within(replies, ms, `${messages.length} echoes`);
}

function expectSame(got: (string | Buffer)[], sent: (string | Buffer)[]): void {
  expect(got.length).to.equal(sent.length);
  for (let i = 0; i < sent.length; i++) {
    if (typeof sent[i] === 'string') expect(got[i]).to.equal(sent[i]);
    else expect(Buffer.isBuffer(got[i]) && (got[i] as Buffer).equals(sent[i] as Buffer), `message ${i}`).to.equal(true);
  }
}

/** A ws echo server over plain TCP. */
async function wsServer(perMessageDeflate: WebSocket.PerMessageDeflateOptions | boolean): Promise<{ url: string; wss: WebSocketServer; agreed: string[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 64 << 20 });
  const agreed: string[] = [];
  wss.on('connection', (ws, req) => {
    agreed.push(String(ws.extensions));
    void req;
    ws.on('message', (m, binary) => ws.send(m, { binary }));
  });
  await new Promise<void>((r) => wss.once('listening', r));
  return { url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, wss, agreed };
}

/** A ws client; resolves once open. */
function wsClient(url: string, perMessageDeflate: WebSocket.PerMessageDeflateOptions | boolean): Promise<WebSocket> {
  return wsOpen(url, { perMessageDeflate, maxPayload: 64 << 20 });
}

async function wsRoundTrip(ws: WebSocket, messages: (string | Buffer)[]): Promise<(string | Buffer)[]> {
  const got: (string | Buffer)[] = [];
  const done = new Promise<void>((resolve) => {
    const onMessage = (m: Buffer, binary: boolean): void => {
      got.push(binary ? m : m.toString());
      if (got.length === messages.length) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
  for (const m of messages) ws.send(m, { binary: typeof m !== 'string' });
  await within(done, 20_000, 'ws echoes');
  return got;
}
async function wsClose(ws: WebSocket): Promise<number> {
  const closed = new Promise<number>((r) => ws.once('close', r));
  ws.close(1000);
  return within(closed, 5000, 'ws close');
}

/** The ws package option names are the same as ours. */
const wsOptions = (o: PerMessageDeflateOptions): WebSocket.PerMessageDeflateOptions => ({ ...o }) as WebSocket.PerMessageDeflateOptions;

describe('permessage-deflate (loopback)', function () {
  this.timeout(120_000);
  const { subs, start } = loopbackScope();

  async function open(url: string, options: Parameters<typeof connect>[1]): Promise<Connection> {
    const { conn, sub } = await openClient(url, options);
    subs.push(sub);
    return conn;
  }

  describe('ws-rx ↔ ws-rx', () => {
    it('agrees on permessage-deflate and shows it on conn.extensions both sides', async () => {
      const server = await start(undefined, { perMessageDeflate: { serverMaxWindowBits: 12, clientNoContextTakeover: true } });
      const accepted = server.nextConnection();
      const conn = await open(server.url, { perMessageDeflate: { serverMaxWindowBits: 13 } });
      const serverConn = await within(accepted, 5000, 'server connection');
      const expected = [{ name: 'permessage-deflate', params: { client_no_context_takeover: true, server_max_window_bits: '12' } }];
      expect(serverConn.extensions).to.deep.equal(expected);
      expect(conn.extensions).to.deep.equal(expected);
      conn.complete();
      await within(conn.closed, 5000, 'close');
    });

    it('declines cleanly when only one side wants it', async () => {
      let server = await start();
      const conn = await open(server.url, { perMessageDeflate: true });
      expect(conn.extensions).to.deep.equal([]);
      expectSame(await roundTrip(conn, ['plain']), ['plain']);
      server.stop();
      server = await start(undefined, { perMessageDeflate: true });
      const conn2 = await open(server.url, {});
      expect(conn2.extensions).to.deep.equal([]);
      expectSame(await roundTrip(conn2, ['plain']), ['plain']);
    });

    it(`echoes text and binary of ${SIZES.map(label).join(', ')}`, async () => {
      const server = await start(undefined, { perMessageDeflate: { threshold: 0 } });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 0 } });
      const messages = SIZES.flatMap((n, i) => [textOf(n, i + 1), bytesOf(n)]);
      expectSame(await roundTrip(conn, messages, 60_000), messages);
    });

    it('sends fragmented compressed messages and keeps them in order with small ones', async () => {
      const server = await start(undefined, { perMessageDeflate: true });
      const conn = await open(server.url, { perMessageDeflate: true });
      const big = textOf(300_000, 9);
      const replies = firstValueFrom(conn.messages$.pipe(take(4), toArray()));
      conn.send(big, { fragmentSize: 1000 });
      conn.send('tiny');
      conn.send(bytesOf(50_000), { fragmentSize: 4096 });
      conn.send('last');
      const got = await within(replies, 10_000, 'echoes');
      expect(got[0]).to.equal(big);
      expect(got[1]).to.equal('tiny');
      expect((got[2] as Buffer).length).to.equal(50_000);
      expect(got[3]).to.equal('last');
    });

    it('compresses only messages at or above the threshold; the send hook sees RSV1', async () => {
      const server = await start(undefined, { perMessageDeflate: { threshold: 100 } });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 100 } });
      const sent: Frame[] = [];
      conn.onSendFrame((f) => {
        sent.push(f);
      });
      await roundTrip(conn, ['x'.repeat(99), 'x'.repeat(100), Buffer.alloc(5000)]);
      expect(sent.map((f) => [f.opcode, f.rsv1])).to.deep.equal([
        [1, false],
        [1, true],
        [2, true],
      ]);
      expect(sent[1].payload.length).to.be.below(100);
    });

    it('with every parameter combination on both sides', async () => {
      const messages = [textOf(0), textOf(5000, 3), bytesOf(70_000), textOf(5000, 3)];
      for (const o of combinations()) {
        const server = await start(undefined, { perMessageDeflate: o });
        const conn = await open(server.url, { perMessageDeflate: o });
        expect(conn.extensions.map((e) => e.name), describeCombo(o)).to.deep.equal(['permessage-deflate']);
        expectSame(await roundTrip(conn, messages), messages);
        conn.complete();
        await within(conn.closed, 5000, 'close');
        server.stop();
      }
    });

    it('a close after sends goes out after every compressed message', async () => {
      const server = await start(undefined, { perMessageDeflate: { threshold: 0 } });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 0 } });
      const received: (string | Buffer)[] = [];
      const all = new Promise<void>((resolve) => conn.messages$.subscribe({ next: (m) => received.push(m), complete: resolve, error: resolve }));
      const messages = Array.from({ length: 20 }, (_, i) => textOf(20_000 + i, i));
      for (const m of messages) conn.send(m);
      conn.complete(); // close frame queued behind the compressions
      const late = firstValueFrom(conn.undelivered$);
      expect(conn.send('too late')).to.equal(false);
      expect((await late).data).to.equal('too late');
      await within(all, 10_000, 'messages$ to end');
      const info = await conn.closed;
      expect(info.wasClean, JSON.stringify(info) + String(info.error)).to.equal(true);
      expect(info.code).to.equal(1000);
      expectSame(received, messages);
    });
  });

  describe('interop with ws', () => {
    it(`ws client → ws-rx server: ${SIZES.map(label).join(', ')}`, async () => {
      const server = await start(undefined, { perMessageDeflate: true });
      const ws = await wsClient(server.url, true);
      expect(ws.extensions).to.equal('permessage-deflate');
      const messages = SIZES.flatMap((n, i) => [textOf(n, i + 1), bytesOf(n)]);
      expectSame(await wsRoundTrip(ws, messages), messages);
      expect(await wsClose(ws)).to.equal(1000);
    });

    it(`ws-rx client → ws server: ${SIZES.map(label).join(', ')}`, async () => {
      const peer = await wsServer({ threshold: 0 });
      try {
        const conn = await open(peer.url, { perMessageDeflate: true });
        expect(conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
        const messages = SIZES.flatMap((n, i) => [textOf(n, i + 1), bytesOf(n)]);
        expectSame(await roundTrip(conn, messages, 60_000), messages);
        conn.complete();
        await within(conn.closed, 5000, 'close');
      } finally {
        peer.wss.close();
      }
    });

    it('ws client → ws-rx server, every parameter combination offered and configured', async () => {
      const messages = [textOf(0), textOf(3000, 5), bytesOf(70_000), textOf(3000, 5)];
      for (const o of combinations()) {
        // ws-rx configured with `o`, ws offering `o`: some combinations are declined (no extension), which must work too.
        const server = await start(undefined, { perMessageDeflate: o });
        const ws = await wsClient(server.url, wsOptions(o));
        const serverConn = server.connections[0];
        expect(String(ws.extensions), describeCombo(o)).to.equal(serverConn.extensions.length ? 'permessage-deflate' : '');
        expectSame(await wsRoundTrip(ws, messages), messages);
        expect(await wsClose(ws)).to.equal(1000);
        server.stop();
      }
    });

    it('ws-rx client → ws server, every parameter combination offered and configured', async () => {
      const messages = [textOf(0), textOf(3000, 5), bytesOf(70_000), textOf(3000, 5)];
      let agreed = 0;
      for (const o of combinations()) {
        const peer = await wsServer(wsOptions(o));
        try {
          const conn = await open(peer.url, { perMessageDeflate: o });
          if (conn.extensions.length > 0) agreed++;
          expect(String(peer.agreed[0]), describeCombo(o)).to.equal(conn.extensions.length ? 'permessage-deflate' : '');
          expectSame(await roundTrip(conn, messages), messages);
          conn.complete();
          await within(conn.closed, 5000, 'close');
        } finally {
          peer.wss.close();
        }
      }
      expect(agreed).to.be.greaterThan(combinations().length / 2);
    });
  });

  describe('safety', () => {
    /** A raw client: opening handshake offering permessage-deflate, then raw bytes. */
    async function rawClient(port: number): Promise<{ socket: net.Socket; closeCode: Promise<number> }> {
      const socket = net.connect(port, '127.0.0.1');
      const key = crypto.randomBytes(16).toString('base64');
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
      );
      let buf = Buffer.alloc(0);
      let opened: () => void;
      const open = new Promise<void>((r) => (opened = r));
      let resolveClose: (code: number) => void;
      const closeCode = new Promise<number>((r) => (resolveClose = r));
      let upgraded = false;
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          expect(head).to.match(/^HTTP\/1\.1 101/);
          expect(head).to.include(`Sec-WebSocket-Accept: ${acceptKey(key)}`);
          expect(head).to.match(/Sec-WebSocket-Extensions: permessage-deflate/);
          upgraded = true;
          buf = buf.subarray(end + 4);
          opened();
        }
        // Server frames are unmasked; look for the close frame.
        for (let at = 0; at + 2 <= buf.length; ) {
          const len = buf[at + 1] & 0x7f;
          if (len > 125) break;
          if ((buf[at] & 0x0f) === 0x8 && at + 4 <= buf.length) resolveClose(buf.readUInt16BE(at + 2));
          at += 2 + len;
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolveClose(1006));
      await within(open, 5000, 'raw handshake');
      return { socket, closeCode };
    }

    it('a deflate bomb (1 MiB that inflates to 1 GiB) closes with 1009, memory stays bounded', async () => {
      const server = await start(undefined, { perMessageDeflate: true, maxPayload: 64 << 20 });
      const accepted = server.nextConnection();
      const { socket, closeCode } = await rawClient(server.port);
      // 1 MiB of zeros, sync-flushed, repeated: a valid stream of 1 GiB.
      const unit = zlib.deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      const bomb = Buffer.concat(Array.from({ length: 1024 }, () => unit)).subarray(0, -4);
      expect(bomb.length).to.be.below(2 << 20);
      const before = process.memoryUsage();
      socket.write(clientFrame(2, bomb, { rsv: 4 }));
      expect(await within(closeCode, 20_000, 'close frame')).to.equal(1009);
      const conn = await accepted;
      const info = await within(conn.closed, 5000, 'server side close');
      expect(info.error?.code).to.equal('WS_ERR_MESSAGE_TOO_BIG');
      const after = process.memoryUsage();
      // 1 GiB was never held: growth stays near maxPayload.
      expect(after.arrayBuffers - before.arrayBuffers).to.be.below(200 << 20);
      expect(after.rss - before.rss).to.be.below(400 << 20);
      socket.destroy();
    });

    it('corrupt compressed data closes with 1007, and the server connection errors with it', async () => {
      const server = await start(undefined, { perMessageDeflate: true });
      const accepted = server.nextConnection();
      const { socket, closeCode } = await rawClient(server.port);
      const conn = await accepted;
      const ended = new Promise<unknown>((resolve) => conn.messages$.subscribe({ error: resolve, complete: () => resolve(null) }));
      socket.write(clientFrame(1, Buffer.from('ff ff ff 00 11 22 33', 'hex'), { rsv: 4 }));
      expect(await within(closeCode, 5000, 'close frame')).to.equal(1007);
      const error = (await within(ended, 5000, 'messages$ error')) as { code: string; closeCode: number };
      expect(error.code).to.equal('WS_ERR_INVALID_COMPRESSED_DATA');
      expect(error.closeCode).to.equal(1007);
      socket.destroy();
    });

    it('RSV1 on a continuation frame or a control frame closes with 1002', async () => {
      const server = await start(undefined, { perMessageDeflate: true });
      for (const bytes of [
        Buffer.concat([clientFrame(1, 'a', { fin: false }), clientFrame(0, 'b', { rsv: 4 })]),
        clientFrame(9, 'ping', { rsv: 4 }),
      ]) {
        const { socket, closeCode } = await rawClient(server.port);
        socket.write(bytes);
        expect(await within(closeCode, 5000, 'close frame')).to.equal(1002);
        socket.destroy();
      }
    });

    it('a ws-rx client fails a server response that accepts what it did not offer', async () => {
      const raw = net.createServer((s) => {
        s.once('data', (d) => {
          const key = /Sec-WebSocket-Key: (\S+)/i.exec(d.toString())![1];
          s.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
              `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\r\n`,
          );
        });
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
      try {
        const port = (raw.address() as net.AddressInfo).port;
        const failed = openClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: { clientMaxWindowBits: false } });
        const error = (await failed.then(
          () => null,
          (e: unknown) => e,
        )) as { code: string; message: string; status: number };
        expect(error.code).to.equal('WS_ERR_HANDSHAKE_EXTENSION');
        expect(error.status).to.equal(101);
        expect(error.message).to.match(/client_max_window_bits was not offered/);
        const noOffer = (await openClient(`ws://127.0.0.1:${port}`, {}).then(
          () => null,
          (e: unknown) => e,
        )) as { code: string };
        expect(noOffer.code).to.equal('WS_ERR_HANDSHAKE_EXTENSION');
      } finally {
        raw.close();
      }
    });

    it('messages waiting for compression when the connection drops are reported undelivered', async () => {
      const server = await start(() => undefined, { perMessageDeflate: { threshold: 0 } });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 0 } });
      const undelivered: unknown[] = [];
      conn.undelivered$.subscribe((u) => undelivered.push(u.data));
      const payloads = Array.from({ length: 50 }, (_, i) => bytesOf(200_000 + i));
      for (const p of payloads) conn.send(p);
      conn.terminate();
      const info = await within(conn.closed, 5000, 'closed');
      expect(info.error).to.be.instanceOf(ConnectionClosedError);
      // Whatever was still queued behind zlib was reported, never lost silently.
      expect(undelivered.length).to.be.greaterThan(0);
      for (const u of undelivered) expect(payloads).to.include(u);
    });
  });
});
