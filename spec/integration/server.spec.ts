import { expect } from 'chai';
import * as net from 'node:net';
import { firstValueFrom, Subscription, take } from 'rxjs';
import WebSocket from 'ws';
import { connect, listen, HandshakeError } from '../../lib';
import { openClient, outcome, startServer, within } from './util';

/** Sends a raw HTTP request and resolves with the whole response text (the server closes). */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.write(request);
  });
}

const upgrade = (extra = '', path = '/') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

describe('integration/listen', () => {
  it('tells the port chosen for port 0 before any client connects (address$ and onListening)', async () => {
    let seen = 0;
    const server$ = listen(0, { host: '127.0.0.1', onListening: (a) => (seen = a.port) });
    const sub = server$.subscribe();
    try {
      const address = await within(server$.address$);
      expect(address.port).to.be.greaterThan(0);
      expect(seen).to.equal(address.port);
      const ws = new WebSocket(`ws://127.0.0.1:${address.port}`);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      ws.terminate();
    } finally {
      sub.unsubscribe();
    }
  });

  it("accepts 'host:port' strings", async () => {
    const server$ = listen('127.0.0.1:0');
    const sub = server$.subscribe();
    try {
      const a = await within(server$.address$);
      expect(a.address).to.equal('127.0.0.1');
    } finally {
      sub.unsubscribe();
    }
  });

  it('errors the observable when the port is taken (EADDRINUSE)', async () => {
    const first = await startServer();
    try {
      const result = await outcome(listen({ host: '127.0.0.1', port: first.port }));
      expect((result.error as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
    } finally {
      first.stop();
    }
  });

  it('emits each connection once open, with the upgrade request', async () => {
    const server = await startServer();
    try {
      const ws = new WebSocket(`${server.url}/chat?room=1`, { headers: { 'X-Test': 'yes' } });
      const conn = await within(server.nextConnection());
      await new Promise((r) => ws.once('open', r));
      expect(conn.request.url).to.equal('/chat?room=1');
      expect(conn.request.headers['x-test']).to.equal('yes');
      expect(conn.request.remoteAddress).to.equal('127.0.0.1');
      expect(conn.isOpen).to.equal(true);
      ws.terminate();
    } finally {
      server.stop();
    }
  });

  it('unsubscribing stops accepting and closes open connections with 1001', async () => {
    const server = await startServer();
    const ws = new WebSocket(server.url);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    server.stop();
    expect(await within(closed)).to.equal(1001);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', resolve);
      s.on('connect', () => resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })));
    });
    expect(err.code).to.equal('ECONNREFUSED');
  });

  it('answers 503 over maxConnections', async () => {
    const server = await startServer(undefined, { maxConnections: 1 });
    try {
      const first = new WebSocket(server.url);
      await new Promise((r) => first.once('open', r));
      const result = await outcome(connect(server.url));
      expect(result.error).to.be.instanceOf(HandshakeError);
      expect((result.error as HandshakeError).status).to.equal(503);
      first.terminate();
    } finally {
      server.stop();
    }
  });

  it('frees a maxConnections slot as soon as a connection closes', async () => {
    const server = await startServer(undefined, { maxConnections: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const ws = new WebSocket(server.url);
        await new Promise((r) => ws.once('open', r));
        const conn = server.connections[i];
        ws.close(1000);
        await within(conn.closed);
      }
      expect(server.connections).to.have.length(3);
    } finally {
      server.stop();
    }
  });

  it('answers 404 for other paths when a path is set', async () => {
    const server = await startServer(undefined, { path: '/ws' });
    try {
      const bad = await outcome(connect(`${server.url}/other`));
      expect((bad.error as HandshakeError).status).to.equal(404);
      const good = await outcome(connect(`${server.url}/ws?x=1`).pipe(take(1)));
      expect(good.values).to.have.length(1);
    } finally {
      server.stop();
    }
  });

  it('answers bad requests with 400 and a reason, a wrong version with 426', async () => {
    const server = await startServer();
    try {
      const noUpgrade = await rawRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(noUpgrade).to.match(/^HTTP\/1\.1 400 /);
      const v8 = await rawRequest(server.port, upgrade('Sec-WebSocket-Version: 8\r\n'));
      expect(v8).to.match(/^HTTP\/1\.1 426 /);
      expect(v8).to.match(/\r\nSec-WebSocket-Version: 13\r\n/i);
      const post = await rawRequest(server.port, upgrade('Sec-WebSocket-Version: 13\r\n').replace('GET', 'POST'));
      expect(post).to.match(/^HTTP\/1\.1 405 /);
      const garbage = await rawRequest(server.port, '\x16\x03\x01\x00garbage\r\n\r\n');
      expect(garbage).to.match(/^HTTP\/1\.1 400 /);
    } finally {
      server.stop();
    }
  });

  it('closes a silent handshake after handshakeTimeout with 408', async () => {
    const server = await startServer(undefined, { handshakeTimeout: 200 });
    try {
      const started = Date.now();
      const response = await within(rawRequest(server.port, 'GET / HTTP/1.1\r\n'), 3000);
      expect(response).to.match(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).to.be.at.least(150);
    } finally {
      server.stop();
    }
  });

  it('accepts a handshake that arrives one byte at a time', async () => {
    const server = await startServer();
    try {
      const response = await new Promise<string>((resolve) => {
        const s = net.connect(server.port, '127.0.0.1');
        const req = upgrade('Sec-WebSocket-Version: 13\r\n');
        let out = '';
        s.on('data', (d) => {
          out += d.toString('latin1');
          if (out.includes('\r\n\r\n')) {
            s.destroy();
            resolve(out);
          }
        });
        let i = 0;
        const tick = () => {
          if (i < req.length) {
            s.write(req[i++]);
            setImmediate(tick);
          }
        };
        s.on('connect', tick);
      });
      expect(response).to.match(/^HTTP\/1\.1 101 /);
      expect(response).to.include('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    } finally {
      server.stop();
    }
  });

  it('chooses the first subprotocol the client offers that it supports', async () => {
    const server = await startServer(undefined, { protocols: ['chat.v2', 'chat.v1'] });
    try {
      const { conn, sub } = await openClient(server.url, { protocols: ['chat.v1', 'chat.v2'] });
      expect(conn.protocol).to.equal('chat.v1');
      const serverSide = server.connections[0];
      expect(serverSide.protocol).to.equal('chat.v1');
      sub.unsubscribe();
      const none = await openClient(server.url, { protocols: ['other'] });
      expect(none.conn.protocol).to.equal('');
      none.sub.unsubscribe();
    } finally {
      server.stop();
    }
  });

  it('lets a handler spawn a client connection on the same loop (the seed\'s shared example)', async () => {
    const upstream = await startServer((c) => c.messages$.subscribe((m) => c.next(`upstream:${m}`)));
    const subs = new Subscription();
    const front = await startServer((c) => {
      subs.add(
        connect(upstream.url).subscribe((up) => {
          up.messages$.subscribe(c);
          c.messages$.subscribe((m) => up.next(m));
        }),
      );
    });
    try {
      const { conn: client, ended } = await openClient(front.url);
      const reply = firstValueFrom(client.messages$);
      client.next('hi');
      expect(await within(reply)).to.equal('upstream:hi');
      client.complete();
      expect(await within(ended)).to.deep.equal({ completed: true });
    } finally {
      subs.unsubscribe();
      front.stop();
      upstream.stop();
    }
  });
});
