/**
 * The `handshake` hook of `listen` and `attach` (the seed's on_request): what
 * it sees, accepting with a subprotocol and per-connection data, rejecting
 * with status, headers and body, async hooks, and a hook that throws (500,
 * reported on errors$ / onError, the server keeps serving).
 */
import { expect } from 'chai';
import * as http from 'node:http';
import * as net from 'node:net';
import { Subscription } from 'rxjs';
import { attach, Connection, HandshakeError, HandshakeRequest, listen, ServerOptions } from '../../lib';
import { clientFrame } from '../helpers';
import { openClient, RAW_UPGRADE, within } from './util';

describe('handshake hook', () => {
  const subs: Subscription[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.unsubscribe();
  });

  async function serve(options: ServerOptions): Promise<{ url: string; conns: Connection[]; errors: Error[] }> {
    const listener = listen({ host: '127.0.0.1', port: 0, ...options });
    const conns: Connection[] = [];
    const errors: Error[] = [];
    subs.push(listener.subscribe((c) => conns.push(c)));
    subs.push(listener.errors$.subscribe((e) => errors.push(e)));
    const address = await within(listener.address$, 5000, 'listening');
    return { url: `ws://127.0.0.1:${address.port}`, conns, errors };
  }

  async function dial(url: string, options = {}): Promise<Connection | HandshakeError> {
    try {
      const { conn, sub } = await openClient(url, options);
      subs.push(sub);
      return conn;
    } catch (e) {
      return e as HandshakeError;
    }
  }

  it('sees path, query, headers, origin, offers and the remote address', async () => {
    const seen: HandshakeRequest[] = [];
    const { url } = await serve({ handshake: (r) => void seen.push(r), perMessageDeflate: true });
    await dial(`${url}/chat/room?id=7&x=a%20b`, {
      origin: 'https://app.example',
      headers: { Authorization: 'Bearer t0k3n' },
      protocols: ['v2', 'v1'],
      perMessageDeflate: true,
    });
    expect(seen).to.have.length(1);
    const r = seen[0];
    expect(r.method).to.equal('GET');
    expect(r.url).to.equal('/chat/room?id=7&x=a%20b');
    expect(r.path).to.equal('/chat/room');
    expect(r.query).to.equal('id=7&x=a%20b');
    expect(r.searchParams.get('x')).to.equal('a b');
    expect(r.headers['authorization']).to.equal('Bearer t0k3n');
    expect(r.origin).to.equal('https://app.example');
    expect(r.protocols).to.deep.equal(['v2', 'v1']);
    expect(r.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate']);
    expect(r.remoteAddress).to.equal('127.0.0.1');
    expect(r.remotePort).to.be.a('number');
    expect(r.secure).to.equal(false);
  });

  it('accepts with a subprotocol, per-connection data and extra headers', async () => {
    const { url, conns } = await serve({
      protocols: ['v1'],
      handshake: (r) => ({ protocol: 'v2', data: { user: r.searchParams.get('user') }, headers: { 'X-Session': 'abc' } }),
    });
    const conn = (await dial(`${url}/?user=ada`, { protocols: ['v1', 'v2'] })) as Connection;
    expect(conn.protocol).to.equal('v2');
    expect(conn.request.headers['x-session']).to.equal('abc');
    expect(conns[0].data).to.deep.equal({ user: 'ada' });
    expect(conns[0].protocol).to.equal('v2');
  });

  it('an async hook can decide later', async () => {
    const { url, conns } = await serve({
      handshake: async (r) => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        return r.headers['authorization'] === 'ok' ? { data: 'async' } : { status: 403 };
      },
    });
    const ok = (await dial(url, { headers: { Authorization: 'ok' } })) as Connection;
    expect(ok).to.be.instanceOf(Connection);
    expect(conns[0].data).to.equal('async');
    const no = (await dial(url)) as HandshakeError;
    expect(no).to.be.instanceOf(HandshakeError);
    expect(no.status).to.equal(403);
  });

  for (const kind of ['no hook', 'a synchronous hook', 'an asynchronous hook'] as const) {
    it(`with ${kind}, frames sent with the request and while it is decided all arrive, in order`, async () => {
      const hooks = {
        'no hook': undefined,
        'a synchronous hook': () => ({ data: 1 }),
        'an asynchronous hook': async () => {
          await new Promise((r) => setTimeout(r, 50));
          return { data: 1 };
        },
      };
      const { url, conns } = await serve({ handshake: hooks[kind] });
      const port = Number(new URL(url).port);
      const socket = net.connect(port, '127.0.0.1');
      try {
        await new Promise((r) => socket.once('connect', r));
        // The request head and two frames in one write (one TCP segment), a third 20 ms later:
        // with an asynchronous hook, before the hook has decided.
        socket.write(
          Buffer.concat([
            Buffer.from(RAW_UPGRADE + '\r\n'),
            clientFrame(0x1, 'one'),
            clientFrame(0x1, 'two'),
          ]),
        );
        await new Promise((r) => setTimeout(r, 20));
        socket.write(clientFrame(0x1, 'three'));
        const conn = await within(
          new Promise<Connection>((resolve) => {
            const poll = (): void => void (conns.length > 0 ? resolve(conns[0]) : setTimeout(poll, 5));
            poll();
          }),
        );
        const got: unknown[] = [];
        await within(
          new Promise<void>((resolve) =>
            conn.messages$.subscribe({
              next: (m) => {
                got.push(m);
                if (got.length === 3) resolve();
              },
              error: () => undefined, // the raw client drops the socket at the end
            }),
          ),
        );
        expect(got).to.deep.equal(['one', 'two', 'three']);
      } finally {
        socket.destroy();
      }
    });
  }

  it('rejects with status, headers and body', async () => {
    const { url } = await serve({
      handshake: () => ({ status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="ws"' }, body: 'token required' }),
    });
    const port = Number(new URL(url).port);
    const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: '/',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.equal('Bearer realm="ws"');
    expect(res.body).to.equal('token required');
    const e = (await dial(url)) as HandshakeError;
    expect(e.status).to.equal(401);
    expect(e.headers['www-authenticate']).to.equal('Bearer realm="ws"');
  });

  it('false rejects with 403', async () => {
    const { url } = await serve({ handshake: () => false });
    expect(((await dial(url)) as HandshakeError).status).to.equal(403);
  });

  it('a hook that throws (or rejects) answers 500, is reported, and the server keeps serving', async () => {
    let calls = 0;
    const reported: Error[] = [];
    const { url, errors } = await serve({
      onError: (e) => reported.push(e),
      handshake: async (r) => {
        calls++;
        if (r.path === '/throw') throw new Error('hook bug');
        if (r.path === '/reject') return Promise.reject(new Error('async hook bug'));
        if (r.path === '/bad-protocol') return { protocol: 'never-offered' };
        return undefined;
      },
    });
    for (const p of ['/throw', '/reject', '/bad-protocol']) {
      const e = (await dial(`${url}${p}`)) as HandshakeError;
      expect(e.status, p).to.equal(500);
    }
    expect(reported.map((e) => e.message)).to.deep.equal([
      'hook bug',
      'async hook bug',
      'handshake hook chose subprotocol "never-offered", which the client did not offer',
    ]);
    expect(errors.map((e) => e.message)).to.deep.equal(reported.map((e) => e.message));
    const ok = await dial(`${url}/fine`);
    expect(ok).to.be.instanceOf(Connection);
    expect(calls).to.equal(4);
  });

  it('a synchronous throw with nobody listening becomes a process warning, not a crash', async () => {
    const listener = listen({
      host: '127.0.0.1',
      port: 0,
      handshake: () => {
        throw new Error('unobserved hook bug');
      },
    });
    subs.push(listener.subscribe());
    const { port } = await within(listener.address$, 5000, 'listening');
    const warning = new Promise<Error>((resolve) => process.once('warning', resolve));
    const e = (await dial(`ws://127.0.0.1:${port}`)) as HandshakeError;
    expect(e.status).to.equal(500);
    expect((await within(warning, 5000, 'warning')).message).to.match(/unobserved hook bug/);
  });

  it('works on attach too', async () => {
    const server = http.createServer();
    const attached = attach(server, {
      path: '/ws',
      handshake: (r) => (r.query === 'ok' ? { data: r.path } : { status: 429, headers: { 'Retry-After': '3' } }),
    });
    const conns: Connection[] = [];
    subs.push(attached.subscribe((c) => conns.push(c)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const conn = (await dial(`ws://127.0.0.1:${port}/ws?ok`)) as Connection;
      expect(conn).to.be.instanceOf(Connection);
      expect(conns[0].data).to.equal('/ws');
      const e = (await dial(`ws://127.0.0.1:${port}/ws?no`)) as HandshakeError;
      expect(e.status).to.equal(429);
      expect(e.headers['retry-after']).to.equal('3');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
