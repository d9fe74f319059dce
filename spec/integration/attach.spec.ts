/**
 * `attach(server, options)` on node:http and node:https servers and
 * `upgrade(req, socket, head)` (ws's noServer mode): HTTP and WebSocket on
 * one port, several endpoints on one server, other paths left alone.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as path from 'node:path';
import { firstValueFrom, Subscription } from 'rxjs';
import WebSocket from 'ws';
import { attach, Connection, HandshakeError, upgrade } from '../../lib';
import { openClient, within } from './util';

async function listening(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Opens a ws-rx client to `url`; resolves the error if it fails. */
async function tryOpen(url: string, subs: Subscription[], options = {}): Promise<Connection | HandshakeError> {
  try {
    const { conn, sub } = await openClient(url, options);
    subs.push(sub);
    return conn;
  } catch (e) {
    return e as HandshakeError;
  }
}

async function echoOnce(conn: Connection, text: string): Promise<unknown> {
  const reply = firstValueFrom(conn.messages$);
  conn.send(text);
  return within(reply, 5000, 'echo');
}

describe('attach and upgrade', () => {
  const subs: Subscription[] = [];
  const servers: (http.Server | https.Server)[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.unsubscribe();
    for (const s of servers.splice(0)) {
      s.closeAllConnections?.();
      s.close();
    }
  });

  function httpServer(): http.Server {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`http ${req.url}`);
    });
    servers.push(server);
    return server;
  }

  it('shares a port: plain HTTP requests are served, upgrades on the path become connections', async () => {
    const server = httpServer();
    const conns: Connection[] = [];
    subs.push(
      attach(server, { path: '/ws' }).subscribe((c) => {
        conns.push(c);
        c.messages$.subscribe(c);
      }),
    );
    const port = await listening(server);
    expect(await get(port, '/hello')).to.deep.equal({ status: 200, body: 'http /hello' });
    const conn = (await tryOpen(`ws://127.0.0.1:${port}/ws?room=1`, subs)) as Connection;
    expect(await echoOnce(conn, 'attached')).to.equal('attached');
    expect(conns[0].request.url).to.equal('/ws?room=1');
    expect(conns[0].request.remoteAddress).to.equal('127.0.0.1');
    expect(await get(port, '/ws')).to.deep.equal({ status: 200, body: 'http /ws' });
  });

  it('several endpoints share one server, each gets its own path', async () => {
    const server = httpServer();
    subs.push(attach(server, { path: '/a' }).subscribe((c) => c.messages$.subscribe((m) => c.send(`a:${m}`))));
    subs.push(attach(server, { path: '/b' }).subscribe((c) => c.messages$.subscribe((m) => c.send(`b:${m}`))));
    const port = await listening(server);
    const a = (await tryOpen(`ws://127.0.0.1:${port}/a`, subs)) as Connection;
    const b = (await tryOpen(`ws://127.0.0.1:${port}/b`, subs)) as Connection;
    expect(await echoOnce(a, 'x')).to.equal('a:x');
    expect(await echoOnce(b, 'y')).to.equal('b:y');
  });

  it('answers 404 to an upgrade no endpoint takes when only ws-rx listens for upgrades', async () => {
    const server = httpServer();
    subs.push(attach(server, { path: '/a' }).subscribe());
    const port = await listening(server);
    const e = (await tryOpen(`ws://127.0.0.1:${port}/nowhere`, subs)) as HandshakeError;
    expect(e).to.be.instanceOf(HandshakeError);
    expect(e.status).to.equal(404);
  });

  it('leaves other paths to other upgrade listeners (a ws server in noServer mode here)', async () => {
    const server = httpServer();
    subs.push(attach(server, { path: '/rx' }).subscribe((c) => c.messages$.subscribe((m) => c.send(`rx:${m}`))));
    const wss = new WebSocket.Server({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other') wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`ws:${m}`)));
    });
    const port = await listening(server);
    const rx = (await tryOpen(`ws://127.0.0.1:${port}/rx`, subs)) as Connection;
    const other = (await tryOpen(`ws://127.0.0.1:${port}/other`, subs)) as Connection;
    expect(await echoOnce(rx, '1')).to.equal('rx:1');
    expect(await echoOnce(other, '2')).to.equal('ws:2');
    wss.close();
  });

  it('runs the full handshake validation on parsed requests (426 for a bad version)', async () => {
    const server = httpServer();
    subs.push(attach(server).subscribe());
    const port = await listening(server);
    const res = await new Promise<http.IncomingMessage>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: '/',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '8' },
      });
      req.on('response', resolve);
      req.on('upgrade', () => resolve({ statusCode: 101 } as http.IncomingMessage));
      req.end();
    });
    expect(res.statusCode).to.equal(426);
    expect(res.headers['sec-websocket-version']).to.equal('13');
    res.resume();
  });

  it('unsubscribing stops upgrading and closes this endpoint’s connections with 1001', async () => {
    const server = httpServer();
    const sub = attach(server, { path: '/ws' }).subscribe((c) => c.messages$.subscribe(c));
    const port = await listening(server);
    const conn = (await tryOpen(`ws://127.0.0.1:${port}/ws`, subs)) as Connection;
    sub.unsubscribe();
    const info = await within(conn.closed, 5000, 'close');
    expect(info.code).to.equal(1001);
    expect(server.listenerCount('upgrade')).to.equal(0);
    expect(await get(port, '/still-http')).to.deep.equal({ status: 200, body: 'http /still-http' });
  });

  it('works on an https server (wss), with permessage-deflate', async () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'tls');
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) });
    servers.push(server);
    subs.push(attach(server, { path: '/secure', perMessageDeflate: true }).subscribe((c) => c.messages$.subscribe(c)));
    const port = await listening(server);
    const conn = (await tryOpen(`wss://localhost:${port}/secure`, subs, {
      tls: { ca: fs.readFileSync(path.join(dir, 'ca.pem')) },
      perMessageDeflate: true,
    })) as Connection;
    expect(conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
    const text = 'secure '.repeat(5000);
    expect(await echoOnce(conn, text)).to.equal(text);
  });

  describe('upgrade (noServer mode)', () => {
    it('upgrades a request routed by hand, emits the connection and completes', async () => {
      const server = httpServer();
      const events: string[] = [];
      server.on('upgrade', (req, socket, head) => {
        upgrade(req, socket as net.Socket, head, { handshake: (r) => ({ data: { user: r.searchParams.get('user') } }) }).subscribe({
          next: (c) => {
            events.push(`next ${JSON.stringify(c.data)}`);
            c.messages$.subscribe(c);
          },
          complete: () => events.push('complete'),
          error: (e: Error) => events.push(`error ${e.message}`),
        });
      });
      const port = await listening(server);
      const conn = (await tryOpen(`ws://127.0.0.1:${port}/any?user=ada`, subs)) as Connection;
      expect(await echoOnce(conn, 'routed')).to.equal('routed');
      expect(events).to.deep.equal(['next {"user":"ada"}', 'complete']);
    });

    it('errors with a HandshakeError carrying the status when the request is refused', async () => {
      const server = httpServer();
      let refused: Promise<unknown> = Promise.resolve(null);
      server.on('upgrade', (req, socket, head) => {
        refused = firstValueFrom(upgrade(req, socket as net.Socket, head, { handshake: () => ({ status: 401, body: 'who?' }) })).then(
          () => null,
          (e: unknown) => e,
        );
      });
      const port = await listening(server);
      const e = (await tryOpen(`ws://127.0.0.1:${port}/`, subs)) as HandshakeError;
      expect(e.status).to.equal(401);
      const serverSide = (await refused) as HandshakeError;
      expect(serverSide).to.be.instanceOf(HandshakeError);
      expect(serverSide.status).to.equal(401);
    });
  });
});
