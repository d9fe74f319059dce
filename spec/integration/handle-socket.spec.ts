/**
 * HandleSocket: a plain-TCP connection on libuv's handle, without
 * `net.Socket`, with a real `net` client on loopback as the other end. The
 * rest of the integration suite runs on it too (it is `listen`'s default);
 * here are the stream semantics the handshake and StreamTransport rely on.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { firstValueFrom, switchMap, take, toArray } from 'rxjs';
import { connect } from '../../lib';
import { connectHandle, handleBindings, HandleSocket } from '../../lib/transport/handle-socket';
import { until } from '../helpers';
import { closedPort, handleServer, loopbackScope, wsOpen } from './util';

interface Pair {
  server: net.Server;
  socket: HandleSocket;
  client: net.Socket;
}

/** A net.Server whose connections arrive as HandleSockets, and one client connected to it. */
async function pair(): Promise<Pair> {
  let onSocket!: (socket: HandleSocket) => void;
  const accepted = new Promise<HandleSocket>((resolve) => (onSocket = resolve));
  const server = await handleServer(onSocket);
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  return { server, socket: await accepted, client };
}

/** Collects what `stream` emits as `data`, as one growing Buffer. */
function collect(stream: { on(event: 'data', fn: (b: Buffer) => void): unknown }): { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  return { bytes: () => Buffer.concat(chunks) };
}

/** Records the events of `socket` in order. */
function events(socket: HandleSocket): string[] {
  const seen: string[] = [];
  for (const name of ['end', 'finish', 'drain', 'error', 'close']) socket.on(name, () => seen.push(name));
  return seen;
}

describe('integration/HandleSocket (libuv handle, no net.Socket)', () => {
  let open: Pair[] = [];
  afterEach(() => {
    for (const p of open) {
      p.client.destroy();
      p.socket.destroy();
      p.server.close();
    }
    open = [];
  });
  const connected = async (): Promise<Pair> => {
    const p = await pair();
    open.push(p);
    return p;
  };

  it('the handle classes are reachable on this Node, so listen() runs on them by default', () => {
    expect(handleBindings()).to.not.equal(null);
  });

  it('carries bytes both ways; the remote address and port are the client’s', async () => {
    const { socket, client } = await connected();
    const atServer = collect(socket);
    const atClient = collect(client);
    client.write('ping');
    await until(() => atServer.bytes().length === 4, 5000, 'the ping');
    expect(atServer.bytes().toString()).to.equal('ping');
    expect(socket.write('pong ✓')).to.equal(true);
    expect(socket.write(Buffer.from([0, 1, 2]))).to.equal(true);
    const expected = Buffer.concat([Buffer.from('pong ✓'), Buffer.from([0, 1, 2])]);
    await until(() => atClient.bytes().length === expected.length, 5000, 'the pong');
    expect(atClient.bytes()).to.deep.equal(expected);
    expect(socket.remoteAddress).to.equal(client.localAddress);
    expect(socket.remotePort).to.equal(client.localPort);
  });

  it('corked writes wait, count in writableLength, and leave in order on uncork', async () => {
    const { socket, client } = await connected();
    const atClient = collect(client);
    socket.cork();
    socket.write(Buffer.from('a'));
    socket.write('bc');
    socket.write(Buffer.from('def'));
    expect(socket.writableLength).to.equal(6);
    await new Promise((r) => setTimeout(r, 30));
    expect(atClient.bytes().length, 'nothing leaves while corked').to.equal(0);
    socket.uncork();
    expect(socket.writableLength).to.equal(0);
    await until(() => atClient.bytes().length === 6, 5000, 'the corked bytes');
    expect(atClient.bytes().toString()).to.equal('abcdef');
  });

  it('end() while corked sends the corked chunks (one or several), its own data, then FIN', async () => {
    const { socket, client } = await connected();
    const atClient = collect(client);
    const clientEnded = new Promise((r) => client.once('end', r));
    socket.cork();
    socket.write('cor');
    socket.write(Buffer.from('ked, '));
    socket.end('then the end');
    await clientEnded;
    expect(atClient.bytes().toString()).to.equal('corked, then the end');

    // One chunk waiting takes the single-write path.
    const one = await connected();
    const atOne = collect(one.client);
    const oneEnded = new Promise((r) => one.client.once('end', r));
    one.socket.cork();
    one.socket.end('alone');
    await oneEnded;
    expect(atOne.bytes().toString()).to.equal('alone');
  });

  it('what the kernel does not take at once is queued, counted, drained, and arrives whole and in order', async () => {
    const { socket, client } = await connected();
    const seen = events(socket);
    client.pause();
    const CHUNK = 64 * 1024;
    let sent = 0;
    // Fill the socket buffers of both ends (bounded: 256 MiB at most).
    while (socket.writableLength === 0 && sent < 4096) {
      socket.write(Buffer.alloc(CHUNK, sent & 0xff));
      sent++;
    }
    expect(socket.writableLength, 'a write was queued by libuv').to.be.greaterThan(0);
    for (let i = 0; i < 8; i++, sent++) socket.write(Buffer.alloc(CHUNK, sent & 0xff));
    const queued = socket.writableLength;
    expect(queued).to.be.greaterThan(8 * CHUNK - 1);
    expect(seen).to.not.include('drain');
    const atClient = collect(client);
    client.resume();
    await until(() => atClient.bytes().length === sent * CHUNK, 20000, 'every byte');
    await until(() => seen.includes('drain'), 5000, 'drain');
    expect(socket.writableLength).to.equal(0);
    const got = atClient.bytes();
    for (let i = 0; i < sent; i++) {
      const at = i * CHUNK;
      if (got[at] !== (i & 0xff) || got[at + CHUNK - 1] !== (i & 0xff)) expect.fail(`chunk ${i} out of place`);
    }
  });

  it('end() sends FIN after the data; the peer’s FIN then closes it: finish, end, close, once each', async () => {
    const { socket, client } = await connected();
    const seen = events(socket);
    const atClient = collect(client);
    const clientEnded = new Promise((r) => client.once('end', r));
    socket.end('bye');
    expect(socket.writableEnded).to.equal(true);
    expect(socket.write('late')).to.equal(false);
    await clientEnded;
    expect(atClient.bytes().toString()).to.equal('bye');
    client.end();
    await until(() => seen.includes('close'), 5000, 'close');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).to.deep.equal(['finish', 'end', 'close']);
    expect(socket.destroyed).to.equal(true);
  });

  it('answers the peer’s FIN with its own (allowHalfOpen: false, as net.Server’s sockets), then closes', async () => {
    const { socket, client } = await connected();
    const seen = events(socket);
    const clientEnded = new Promise((r) => client.once('end', r));
    client.end();
    await clientEnded;
    await until(() => seen.includes('close'), 5000, 'close');
    expect(seen).to.deep.equal(['end', 'finish', 'close']);
    expect(socket.writableEnded).to.equal(true);
  });

  it('a peer that resets: error with the system code, then close(hadError)', async () => {
    const { socket, client } = await connected();
    const errors: NodeJS.ErrnoException[] = [];
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
    const closed = new Promise<boolean>((r) => socket.once('close', r));
    client.resetAndDestroy();
    expect(await closed).to.equal(true);
    expect(errors).to.have.length(1);
    expect(errors[0].code).to.equal('ECONNRESET');
    expect(errors[0].syscall).to.equal('read');
    expect(errors[0].message).to.equal('read ECONNRESET');
  });

  it('setSink: data goes to the sink alone; end, then close, go to the sink before any listener', async () => {
    const { socket, client } = await connected();
    const order: string[] = [];
    const received: Buffer[] = [];
    socket.setSink({
      receive: (chunk) => received.push(chunk),
      handleEnd: () => order.push('sink end'),
      finish: () => order.push('sink close'),
      handleError: () => order.push('sink error'),
      handleDrain: () => order.push('sink drain'),
    });
    socket.on('data', () => order.push('listener data'));
    for (const name of ['end', 'close']) socket.on(name, () => order.push(`listener ${name}`));
    client.write('to the sink');
    await until(() => Buffer.concat(received).length === 11, 5000, 'the bytes');
    expect(Buffer.concat(received).toString()).to.equal('to the sink');
    client.end();
    await until(() => order.includes('listener close'), 5000, 'close');
    expect(order).to.deep.equal(['sink end', 'listener end', 'sink close', 'listener close']);
  });

  it('setSink: a reset reaches the sink as an error before its close', async () => {
    const { socket, client } = await connected();
    const order: string[] = [];
    let error: NodeJS.ErrnoException | null = null;
    socket.setSink({
      receive: () => {},
      handleEnd: () => order.push('end'),
      finish: () => order.push('close'),
      handleError: (e) => {
        error = e;
        order.push('error');
      },
      handleDrain: () => {},
    });
    client.resetAndDestroy();
    await until(() => order.includes('close'), 5000, 'close');
    expect(order).to.deep.equal(['error', 'close']);
    expect(error!.code).to.equal('ECONNRESET');
  });

  it('pause() holds input in the kernel; resume() delivers it', async () => {
    const { socket, client } = await connected();
    const atServer = collect(socket);
    socket.pause();
    client.write('held');
    await new Promise((r) => setTimeout(r, 50));
    expect(atServer.bytes().length).to.equal(0);
    socket.resume();
    await until(() => atServer.bytes().length === 4, 5000, 'the held bytes');
    expect(atServer.bytes().toString()).to.equal('held');
  });

  it('destroy(): writes are refused after it, close comes once, error only when one is given', async () => {
    const a = await connected();
    const seenA = events(a.socket);
    a.socket.destroy();
    a.socket.destroy();
    expect(a.socket.write('x')).to.equal(false);
    await until(() => seenA.includes('close'), 5000, 'close');
    await new Promise((r) => setTimeout(r, 20));
    expect(seenA).to.deep.equal(['close']);
    expect(a.socket.remoteAddress, 'no peer once closed').to.equal(undefined);
    await new Promise((r) => setImmediate(r)); // node frees the handle after its close callback
    expect(a.socket.writableLength, 'nothing left to write, and a number').to.equal(0);

    const b = await connected();
    const seenB = events(b.socket);
    const hadError = new Promise<boolean>((r) => b.socket.once('close', r));
    b.socket.destroy(new Error('boom'));
    expect(await hadError).to.equal(true);
    expect(seenB).to.deep.equal(['error', 'close']);
  });
});

/** Whether this machine has an IPv6 loopback to listen on. */
async function ipv6Loopback(): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

describe('integration/connectHandle (client side, libuv handle)', () => {
  it('connects, sends what was written before the connect completed, and reads the answer', async () => {
    const server = net.createServer((s) => s.on('data', (d) => s.write(Buffer.concat([Buffer.from('re:'), d]))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = connectHandle('127.0.0.1', (server.address() as net.AddressInfo).port)!;
      expect(socket).to.be.instanceOf(HandleSocket);
      expect(socket.connecting).to.equal(true);
      expect(socket.write('early')).to.equal(true);
      const connected = new Promise((r) => socket.once('connect', r));
      const got = collect(socket);
      await connected;
      expect(socket.connecting).to.equal(false);
      await until(() => got.bytes().length === 8, 5000, 'the answer');
      expect(got.bytes().toString()).to.equal('re:early');
      expect(socket.remotePort).to.equal((server.address() as net.AddressInfo).port);
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('end() while connecting: the data, then FIN, once connected', async () => {
    const received: Buffer[] = [];
    let ended!: () => void;
    const serverSawEnd = new Promise<void>((r) => (ended = r));
    const server = net.createServer((s) => {
      s.on('data', (d) => received.push(d));
      s.on('end', () => ended());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = connectHandle('127.0.0.1', (server.address() as net.AddressInfo).port)!;
      const seen = events(socket);
      socket.end('last words');
      await serverSawEnd;
      expect(Buffer.concat(received).toString()).to.equal('last words');
      await until(() => seen.includes('finish'), 5000, 'finish');
      expect(seen[0]).to.equal('finish');
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('a refused connection: error ECONNREFUSED with the address, then close(hadError)', async () => {
    const port = await closedPort();
    const socket = connectHandle('127.0.0.1', port)!;
    const errors: (NodeJS.ErrnoException & { address?: string; port?: number })[] = [];
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
    const hadError = await new Promise<boolean>((r) => socket.once('close', r));
    expect(hadError).to.equal(true);
    expect(errors).to.have.length(1);
    expect(errors[0].code).to.equal('ECONNREFUSED');
    expect(errors[0].syscall).to.equal('connect');
    expect(errors[0].message).to.equal(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(errors[0].port).to.equal(port);
  });

  it('connects to an IPv6 literal', async function () {
    if (!(await ipv6Loopback())) this.skip();
    const server = net.createServer((s) => s.end('v6'));
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    try {
      const socket = connectHandle('::1', (server.address() as net.AddressInfo).port)!;
      const got = collect(socket);
      await new Promise((r) => socket.once('close', r));
      expect(got.bytes().toString()).to.equal('v6');
      expect(socket.remoteAddress).to.equal(undefined);
    } finally {
      server.close();
    }
  });

  it('leaves host names to net (null): they need a DNS lookup', () => {
    expect(connectHandle('localhost', 80)).to.equal(null);
    expect(connectHandle('example.com', 80)).to.equal(null);
  });

  it('connect() reports a refused connection as a HandshakeError with the cause, on both socket kinds', async () => {
    const port = await closedPort();
    for (const directSockets of [true, false]) {
      const error = await firstValueFrom(connect(`ws://127.0.0.1:${port}`, { directSockets })).then(
        () => expect.fail('connected to a closed port'),
        (e: Error & { code?: string; cause?: NodeJS.ErrnoException }) => e,
      );
      expect(error.code, `directSockets: ${directSockets}`).to.equal('WS_ERR_CONNECT');
      expect(error.message).to.equal(`connection failed: connect ECONNREFUSED 127.0.0.1:${port}`);
      expect(error.cause?.code).to.equal('ECONNREFUSED');
    }
  });
});

describe('integration/listen: directSockets', () => {
  const { start } = loopbackScope();

  for (const directSockets of [true, false]) {
    it(`a ws-rx client and server echo over loopback (directSockets: ${directSockets} on both)`, async () => {
      const server = await start(undefined, { directSockets });
      const echoed = await firstValueFrom(
        connect(server.url, { directSockets }).pipe(
          switchMap((conn) => {
            conn.next('one');
            conn.next(Buffer.from([2]));
            conn.next('three ✓');
            return conn.messages$.pipe(take(3), toArray());
          }),
        ),
      );
      expect(echoed).to.deep.equal(['one', Buffer.from([2]), 'three ✓']);
    });

    it(`echoes text and binary, then closes cleanly (directSockets: ${directSockets})`, async () => {
      const server = await start(undefined, { directSockets });
      const ws = await wsOpen(server.url);
      const got: unknown[] = [];
      ws.on('message', (data, isBinary) => got.push(isBinary ? [...(data as Buffer)] : String(data)));
      ws.send('héllo ✓');
      ws.send(Buffer.from([1, 2, 3]));
      await until(() => got.length === 2, 5000, 'the echoes');
      expect(got).to.deep.equal(['héllo ✓', [1, 2, 3]]);
      const code = await new Promise<number>((resolve) => {
        ws.once('close', resolve);
        ws.close(1000);
      });
      expect(code).to.equal(1000);
    });
  }

  it('a ws-rx client reaches a ws-rx server over IPv6 loopback ([::1]) on the handle', async function () {
    if (!(await ipv6Loopback())) this.skip();
    const server = await start(undefined, { host: '::1' });
    const echoed = await firstValueFrom(
      connect(`ws://[::1]:${server.port}`).pipe(
        switchMap((conn) => {
          conn.next('over v6');
          return conn.messages$.pipe(take(1));
        }),
      ),
    );
    expect(echoed).to.equal('over v6');
    const conn = server.connections[0];
    expect(conn.request.remoteAddress).to.equal('::1');
  });

  it('prints no deprecation warning, and keeps net.Socket under --pending-deprecation', function () {
    this.timeout(30000);
    const probe = path.join(__dirname, '..', 'fixtures', 'handle-probe.ts');
    const run = (flags: string[]) =>
      spawnSync(process.execPath, [...flags, '-r', 'ts-node/register/transpile-only', probe], { encoding: 'utf8', timeout: 25000 });
    const plain = run([]);
    expect(plain.stderr).to.equal('');
    expect(JSON.parse(plain.stdout)).to.deep.equal({ direct: true, echoed: 'ok' });
    const pending = run(['--pending-deprecation']);
    expect(pending.stderr, 'no DEP0111').to.equal('');
    expect(JSON.parse(pending.stdout)).to.deep.equal({ direct: false, echoed: 'ok' });
  });

  it('falls back to net.Socket where process.binding is gone (as a future Node may have it)', function () {
    this.timeout(30000);
    const fixtures = path.join(__dirname, '..', 'fixtures');
    const result = spawnSync(
      process.execPath,
      ['-r', path.join(fixtures, 'without-process-binding.js'), '-r', 'ts-node/register/transpile-only', path.join(fixtures, 'handle-probe.ts')],
      { encoding: 'utf8', timeout: 25000 },
    );
    expect(result.stderr).to.equal('');
    expect(JSON.parse(result.stdout)).to.deep.equal({ direct: false, echoed: 'ok' });
  });
});
