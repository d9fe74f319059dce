/** Loopback helpers for integration specs. */
import { firstValueFrom, Observable, Subscription } from 'rxjs';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import WebSocket from 'ws';
import { connect, listen, Connection, ServerOptions } from '../../lib';
import { acceptHandles, type HandleSocket } from '../../lib/transport/handle-socket';

export interface TestServer {
  port: number;
  url: string;
  connections: Connection[];
  /** Resolves with the next accepted connection. */
  nextConnection(): Promise<Connection>;
  stop(): void;
}

/**
 * For a describe block: `start` is {@link startServer}, and every server it
 * started is stopped, and every subscription pushed on `subs` ended, after
 * each test. Call it in the describe body.
 */
export function loopbackScope(): { subs: Subscription[]; start: typeof startServer } {
  const subs: Subscription[] = [];
  const servers: TestServer[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.unsubscribe();
    for (const s of servers.splice(0)) s.stop();
  });
  return {
    subs,
    start: async (handler, options) => {
      const server = await startServer(handler, options);
      servers.push(server);
      return server;
    },
  };
}

/** Starts a server on 127.0.0.1:0; `handler` runs for each connection (default: echo). */
export async function startServer(
  handler: (c: Connection) => void = (c) => {
    c.messages$.subscribe(c);
  },
  options: ServerOptions = {},
): Promise<TestServer> {
  const server$ = listen({ host: '127.0.0.1', port: 0, ...options });
  const connections: Connection[] = [];
  let waiters: ((c: Connection) => void)[] = [];
  const sub: Subscription = server$.subscribe((c) => {
    connections.push(c);
    handler(c);
    const w = waiters;
    waiters = [];
    for (const f of w) f(c);
  });
  const address = await firstValueFrom(server$.address$);
  return {
    port: address.port,
    url: `ws://127.0.0.1:${address.port}`,
    connections,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    stop: () => sub.unsubscribe(),
  };
}

/** First value or a timeout error. */
export function within<T>(source: Observable<T> | Promise<T>, ms = 5000, what = 'value'): Promise<T> {
  const p = source instanceof Promise ? source : firstValueFrom(source);
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Resolves with what an Observable did: its values and how it ended. */
export function outcome<T>(source: Observable<T>, ms = 5000): Promise<{ values: T[]; error?: unknown; completed: boolean }> {
  return new Promise((resolve, reject) => {
    const values: T[] = [];
    const t = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`observable did not end within ${ms} ms (${values.length} values)`));
    }, ms);
    const sub = source.subscribe({
      next: (v) => values.push(v),
      error: (error) => {
        clearTimeout(t);
        resolve({ values, error, completed: false });
      },
      complete: () => {
        clearTimeout(t);
        resolve({ values, completed: true });
      },
    });
  });
}

/**
 * Opens a client connection and keeps it subscribed (note: `firstValueFrom(connect(url))`
 * would unsubscribe after the first value, and unsubscribing closes the connection).
 * `ended` resolves with how the connect observable ended.
 */
export function openClient(
  url: string,
  options?: import('../../lib').ClientOptions,
  ms = 5000,
): Promise<{ conn: Connection; sub: Subscription; ended: Promise<{ error?: unknown; completed: boolean }> }> {
  return new Promise((resolve, reject) => {
    let settle: (v: { error?: unknown; completed: boolean }) => void;
    const ended = new Promise<{ error?: unknown; completed: boolean }>((r) => (settle = r));
    const t = setTimeout(() => reject(new Error(`no connection within ${ms} ms`)), ms);
    let opened = false;
    const sub = connect(url, options).subscribe({
      next: (conn) => {
        opened = true;
        clearTimeout(t);
        resolve({ conn, sub, ended });
      },
      error: (error) => {
        clearTimeout(t);
        settle({ error, completed: false });
        if (!opened) reject(error);
      },
      complete: () => settle({ completed: true }),
    });
  });
}

/** A `ws` client (the real peer) for `url`, once open; rejects on a connection error or after `ms`. */
export function wsOpen(url: string, options?: WebSocket.ClientOptions, ms = 5000): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  return within(
    new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    ms,
    'ws open',
  );
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A net.Server on 127.0.0.1 (a free port) whose connections reach `onSocket`
 * as HandleSockets. Throws if acceptHandles could not take the listening
 * handle over, and (as an uncaught error) if net builds a net.Socket anyway.
 */
export async function handleServer(onSocket: (socket: HandleSocket) => void): Promise<net.Server> {
  const server = net.createServer();
  let adopted = false;
  server.once('listening', () => (adopted = acceptHandles(server, onSocket)));
  server.on('connection', () => {
    throw new Error('a net.Socket was built: the handle was not taken over');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  if (!adopted) throw new Error('acceptHandles did not take over the listening handle');
  return server;
}

/** The opening handshake a raw client sends (RFC 6455 §1.3's sample key). */
export const RAW_UPGRADE =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/**
 * A raw TCP client past the opening handshake (`headers`: extra header lines,
 * each ending in CRLF). `head` is the server's response head; `after`, any
 * bytes that came with it. The socket is paused, with no data listener
 * left: add one, then `resume()`.
 */
export async function rawUpgrade(port: number, headers = ''): Promise<{ socket: net.Socket; head: string; after: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await within(new Promise((r) => socket.once('connect', r)), 5000, 'raw connect');
  socket.write(RAW_UPGRADE + headers + '\r\n');
  let buf = Buffer.alloc(0);
  const end = await within(
    new Promise<number>((resolve) => {
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const at = buf.indexOf('\r\n\r\n');
        if (at < 0) return;
        socket.removeListener('data', onData);
        socket.pause();
        resolve(at);
      };
      socket.on('data', onData);
    }),
    5000,
    'the response head',
  );
  return { socket, head: buf.subarray(0, end).toString('latin1'), after: buf.subarray(end + 4) };
}

/** An echo server in a child process (spec/fixtures/echo-child.ts, with `args`), and its port. */
export async function echoChild(args: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', 'fixtures', 'echo-child.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`echo child exited with ${code}`)));
  });
  return { child, port };
}

/** The resident memory of process `pid`, bytes (from /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * For a describe block: an echo child (see {@link echoChild}, with `args`)
 * started before its tests and stopped after them. `child` and `port` are
 * set once it runs.
 */
export function echoChildScope(args: string[] = []): { child: ChildProcess; port: number } {
  const scope = {} as { child: ChildProcess; port: number };
  before(async () => {
    Object.assign(scope, await echoChild(args));
  });
  after(() => {
    scope.child.stdin!.end();
    scope.child.kill();
  });
  return scope;
}

/** Samples the resident memory of `pid` every 20 ms from now until `stop()`: its baseline and its peak. */
export function rssWatch(pid: number): { baseline: number; peak(): number; stop(): void } {
  const baseline = rssOf(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  return { baseline, peak: () => peak, stop: () => clearInterval(sampler) };
}

/** A client frame masked with the all-zero key (its payload as is), of up to 125 bytes. */
export function zeroMaskFrame(b0: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b0, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Whether `socket` emits `drain` within `ms` (false: the peer stopped reading). */
export function drainedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const t = setTimeout(() => {
      socket.removeListener('drain', onDrain);
      resolve(false);
    }, ms);
    const onDrain = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    socket.once('drain', onDrain);
  });
}
