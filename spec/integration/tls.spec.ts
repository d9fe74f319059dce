/**
 * wss: `listen({ tls })` and `connect('wss://...', { tls })` over node:tls on
 * loopback, with the committed test certificates (spec/fixtures/tls/README.md
 * has the commands that made them), interop with `ws` both ways, SNI, and
 * the typed error a client gets for a certificate it must not trust.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tls from 'node:tls';
import { firstValueFrom, Subscription } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, Connection, HandshakeError, listen, Listener } from '../../lib';

/** Opens a client and keeps it subscribed until the test's cleanup. */
async function client(url: string, options: Parameters<typeof connect>[1], subs: Subscription[]): Promise<Connection> {
  const { conn, sub } = await openClient(url, options);
  subs.push(sub);
  return conn;
}
import { openClient, outcome, within, wsOpen } from './util';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'tls');
const read = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));
const CA = read('ca.pem');
const CERT = read('cert.pem');
const KEY = read('key.pem');

async function startTls(options: tls.TlsOptions, extra: Record<string, unknown> = {}): Promise<{ port: number; listener: Listener; sub: Subscription; conns: Connection[] }> {
  const listener = listen({ host: '127.0.0.1', port: 0, tls: options, ...extra });
  const conns: Connection[] = [];
  const sub = listener.subscribe((c) => {
    conns.push(c);
    c.messages$.subscribe(c);
  });
  const address = await within(listener.address$, 5000, 'listening');
  return { port: address.port, listener, sub, conns };
}

describe('wss (TLS)', () => {
  const subs: Subscription[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.unsubscribe();
  });

  it('echoes over wss:// between ws-rx server and client, trusting the test CA', async () => {
    const server = await startTls({ key: KEY, cert: CERT });
    subs.push(server.sub);
    const conn = await client(`wss://localhost:${server.port}/secure`, { tls: { ca: CA } }, subs);
    const replies = firstValueFrom(conn.messages$);
    conn.send('over tls');
    expect(await within(replies, 5000, 'echo')).to.equal('over tls');
    const big = Buffer.alloc(3 * 1024 * 1024, 0x5a);
    const reply2 = firstValueFrom(conn.messages$);
    conn.send(big);
    expect(((await within(reply2, 10_000, 'big echo')) as Buffer).equals(big)).to.equal(true);
    const [serverConn] = server.conns;
    expect(serverConn.request.url).to.equal('/secure');
    conn.complete();
    const info = await within(conn.closed, 5000, 'close');
    expect(info.wasClean).to.equal(true);
  });

  it('a client that does not trust the certificate errors with HandshakeError WS_ERR_TLS', async () => {
    const server = await startTls({ key: read('other-key.pem'), cert: read('other-cert.pem') });
    subs.push(server.sub);
    const errors: Error[] = [];
    subs.push(server.listener.errors$.subscribe((e) => errors.push(e)));
    const result = await outcome(connect(`wss://localhost:${server.port}`, { tls: { ca: CA } }));
    expect(result.values).to.have.length(0);
    expect(result.error).to.be.instanceOf(HandshakeError);
    const e = result.error as HandshakeError;
    expect(e.code).to.equal('WS_ERR_TLS');
    expect(e.status).to.equal(0);
    expect(e.message).to.match(/TLS handshake failed: .*self.signed/i);
    expect((e as { cause?: { code?: string } }).cause?.code).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('a certificate for another name errors with WS_ERR_TLS (hostname mismatch)', async () => {
    const server = await startTls({ key: read('alt-key.pem'), cert: read('alt-cert.pem') });
    subs.push(server.sub);
    const result = await outcome(connect(`wss://localhost:${server.port}`, { tls: { ca: CA } }));
    expect((result.error as HandshakeError).code).to.equal('WS_ERR_TLS');
    expect((result.error as { cause?: { code?: string } }).cause?.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('passes tls options through: SNI picks the certificate, servername is sent', async () => {
    const tlsMod = await import('node:tls');
    const alt = tlsMod.createSecureContext({ key: read('alt-key.pem'), cert: read('alt-cert.pem') });
    const seen: string[] = [];
    const server = await startTls({
      key: KEY,
      cert: CERT,
      SNICallback: (name, cb) => {
        seen.push(name);
        cb(null, name === 'alt.test' ? alt : undefined);
      },
    });
    subs.push(server.sub);
    const conn = await client(`wss://127.0.0.1:${server.port}`, { tls: { ca: CA, servername: 'alt.test' } }, subs);
    expect(seen).to.deep.equal(['alt.test']);
    const reply = firstValueFrom(conn.messages$);
    conn.send('sni');
    expect(await within(reply, 5000, 'echo')).to.equal('sni');
    conn.complete();
    await within(conn.closed, 5000, 'close');
  });

  it('reports a client that fails the TLS handshake on errors$, and keeps serving', async () => {
    const server = await startTls({ key: KEY, cert: CERT });
    subs.push(server.sub);
    const firstError = within(server.listener.errors$, 5000, 'the TLS client error');
    const net = await import('node:net');
    const s = net.connect(server.port, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\n\r\n'));
    s.on('error', () => undefined);
    const error = await firstError;
    expect(error.message).to.match(/SSL|TLS|wrong version|http request/i);
    const conn = await client(`wss://localhost:${server.port}`, { tls: { ca: CA } }, subs);
    conn.complete();
    await within(conn.closed, 5000, 'close');
  });

  it('interop: a ws client (perMessageDeflate on) talks to a ws-rx wss server', async () => {
    const server = await startTls({ key: KEY, cert: CERT }, { perMessageDeflate: true });
    subs.push(server.sub);
    const ws = await wsOpen(`wss://localhost:${server.port}`, { ca: CA, perMessageDeflate: true });
    expect(ws.extensions).to.equal('permessage-deflate');
    const text = 'tls and deflate '.repeat(1000);
    const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve(m.toString())));
    ws.send(text);
    expect(await within(reply, 5000, 'echo')).to.equal(text);
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.close(1000);
    expect(await within(closed, 5000, 'close')).to.equal(1000);
  });

  it('interop: a ws-rx client talks to a ws wss server', async () => {
    const https = await import('node:https');
    const httpsServer = https.createServer({ key: KEY, cert: CERT });
    const wss = new WebSocketServer({ server: httpsServer, perMessageDeflate: true });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    await new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r));
    const port = (httpsServer.address() as { port: number }).port;
    try {
      const conn = await client(`wss://localhost:${port}`, { tls: { ca: CA }, perMessageDeflate: true }, subs);
      expect(conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
      const reply = firstValueFrom(conn.messages$);
      conn.send(Buffer.alloc(100_000, 3));
      expect(((await within(reply, 5000, 'echo')) as Buffer).equals(Buffer.alloc(100_000, 3))).to.equal(true);
      conn.complete();
      await within(conn.closed, 5000, 'close');
    } finally {
      wss.close();
      httpsServer.close();
    }
  });
});
