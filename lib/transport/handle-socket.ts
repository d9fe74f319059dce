/**
 * A plain-TCP connection driven on libuv's TCP handle itself, without a
 * `net.Socket` around it: what `listen` accepts by default.
 *
 * Why: on the seed's workload (10,000 connections, 10 small messages each) a
 * `net.Socket` costs more than the whole WebSocket protocol. Building one per
 * connection (a Duplex with its two stream states), pushing every read
 * through `Readable`, and every write through `Writable` (its buffer, its
 * `nextTick` after each write) took about half of the least a Node echo
 * server can do in user time. The handle below is the same object `net`
 * drives (`net.Server` still binds, listens and accepts); only the layer
 * between it and us is gone. Each libuv read is one direct call into the
 * handshake or the transport that took the socket (`setSink`), or one `data`
 * event for anyone else; writes go straight to `writeBuffer`/`writev` (libuv
 * tries the `write(2)` at once and queues only what the kernel did not take).
 *
 * It implements the part of `Duplex` that the handshake and
 * `StreamTransport` use, with `net.Socket`'s semantics for a server
 * connection (`allowHalfOpen: false`): `data`, `end`, `finish`, `drain`,
 * `error`, `close`; `pause`/`resume` stop and restart reading; `end()` sends
 * FIN once queued writes are out; the socket is destroyed (and `close`
 * emitted) once both directions are done, or on an error.
 *
 * The handle's classes come from `process.binding` (Node's internal
 * bindings, as `net` itself uses them). Where they are not reachable, or
 * where reaching them would print a deprecation warning
 * (`--pending-deprecation`), {@link handleBindings} says so and `listen`
 * keeps `net.Socket`; `listen({ directSockets: false })` does too.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { StreamSink } from './stream-transport';

/** A libuv write request (node's `WriteWrap`); ours carries what it keeps alive. */
interface WriteReq {
  handle: StreamHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  /** Keeps the written memory alive while libuv still reads it. */
  data: Buffer | string | Buffer[] | null;
}

interface ConnectReq {
  oncomplete: (this: ConnectReq, status: number, handle: StreamHandle, req: ConnectReq) => void;
  address: string;
  port: number;
}

interface ShutdownReq {
  handle: StreamHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

/** The parts of node's `TCP` handle (a `LibuvStreamWrap`) used here. */
interface StreamHandle {
  /** Must stay a function (node checks). */
  onread: (this: StreamHandle, buffer: ArrayBuffer | undefined) => void;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: true): number;
  writeUtf8String(req: WriteReq, data: string): number;
  shutdown(req: ShutdownReq): number;
  close(callback: (this: StreamHandle) => void): void;
  getpeername(out: { address?: string; port?: number }): number;
  setNoDelay(enable: boolean): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  /** Our back reference (node's is `owner_symbol`). */
  wsrxSocket?: HandleSocket;
}

/** What is needed from node's internal `tcp_wrap`, `stream_wrap` and `uv` bindings. */
export interface HandleBindings {
  TCP: new (type: number) => object;
  /** `TCP`'s type for a connecting socket. */
  SOCKET: number;
  TCPConnectWrap: new () => ConnectReq;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  /** `streamBaseState`: how the handle reports a read's size and a write's outcome. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
  UV_ENOTCONN: number;
}

let bindings: HandleBindings | null | undefined;

function pendingDeprecation(): boolean {
  return (
    process.execArgv.includes('--pending-deprecation') ||
    (process.env.NODE_OPTIONS ?? '').includes('--pending-deprecation') ||
    process.env.NODE_PENDING_DEPRECATION === '1'
  );
}

/**
 * Node's handle classes, or null when they cannot be used here: no
 * `process.binding` (a future Node, a permission model that denies it), a
 * shape that is not the one this file was written against (checked, not
 * assumed), or `--pending-deprecation`, under which asking would print
 * DEP0111 to the user's console.
 */
export function handleBindings(): HandleBindings | null {
  if (bindings !== undefined) return bindings;
  bindings = null;
  if (pendingDeprecation()) return null;
  try {
    const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof binding !== 'function') return null;
    const tcp = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const uv = binding('uv');
    const state = stream.streamBaseState;
    const proto = (tcp.TCP as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    const ok =
      typeof tcp.TCP === 'function' &&
      typeof tcp.TCPConnectWrap === 'function' &&
      typeof (tcp.constants as { SOCKET?: unknown } | undefined)?.SOCKET === 'number' &&
      typeof stream.WriteWrap === 'function' &&
      typeof stream.ShutdownWrap === 'function' &&
      state instanceof Int32Array &&
      typeof stream.kReadBytesOrError === 'number' &&
      typeof stream.kArrayBufferOffset === 'number' &&
      typeof stream.kLastWriteWasAsync === 'number' &&
      typeof uv.UV_EOF === 'number' &&
      typeof uv.UV_ENOTCONN === 'number' &&
      proto !== undefined &&
      ['readStart', 'readStop', 'writeBuffer', 'writev', 'writeUtf8String', 'shutdown', 'close', 'getpeername', 'setNoDelay', 'connect', 'connect6'].every(
        (name) => typeof proto[name] === 'function',
      );
    if (!ok) return null;
    bindings = {
      TCP: tcp.TCP as HandleBindings['TCP'],
      SOCKET: (tcp.constants as { SOCKET: number }).SOCKET,
      TCPConnectWrap: tcp.TCPConnectWrap as HandleBindings['TCPConnectWrap'],
      WriteWrap: stream.WriteWrap as HandleBindings['WriteWrap'],
      ShutdownWrap: stream.ShutdownWrap as HandleBindings['ShutdownWrap'],
      state,
      kReadBytesOrError: stream.kReadBytesOrError as number,
      kArrayBufferOffset: stream.kArrayBufferOffset as number,
      kLastWriteWasAsync: stream.kLastWriteWasAsync as number,
      UV_EOF: uv.UV_EOF as number,
      UV_ENOTCONN: uv.UV_ENOTCONN as number,
    };
  } catch {
    bindings = null;
  }
  return bindings;
}

/**
 * A system error as node reports it: `read ECONNRESET`, with `code`,
 * `errno`, `syscall` (and `connect ECONNREFUSED 127.0.0.1:9`, with
 * `address` and `port`).
 */
function errnoError(errno: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const error: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(`${syscall} ${code}${where}`);
  error.errno = errno;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) {
    error.address = address;
    error.port = port;
  }
  return error;
}

/**
 * A write request whose last write completed synchronously carries no libuv
 * request: the next write reuses it (one allocation less per write).
 */
let spareReq: WriteReq | null = null;

function noopComplete(): void {}
function ignoreRead(): void {}

/**
 * A HandleSocket is an EventEmitter (its prototype), built without
 * EventEmitter's constructor: `_events` is made by the first listener, and
 * on the server none comes, since the handshake and the transport take the
 * socket's input by `setSink`. That saves the listener dictionary every
 * emitter gets (~190 B per connection).
 */
export interface HandleSocket extends EventEmitter {}

/** One plain-TCP connection on its libuv handle. */
export class HandleSocket {
  destroyed = false;
  /** `end()` was called: no more writes. */
  writableEnded = false;
  /** The FIN is out (all queued writes first). */
  writableFinished = false;
  readonly encrypted = false;
  private readonly b: HandleBindings;
  private readonly handle: StreamHandle;
  /** A client socket before its TCP connect completes: writes wait (as corked ones do). */
  connecting: boolean;
  private reading = false;
  private paused = false;
  private readEnded = false;
  /** Writes libuv has queued (the kernel did not take them at once). */
  private asyncWrites = 0;
  private corked = 0;
  private corkedChunks: Buffer[] = [];
  private corkedBytes = 0;
  private peer: { address?: string; port?: number } | null = null;
  private closeError: Error | null = null;
  /** Who takes the socket's input (`setSink`: the handshake, then the transport), called directly, not through listeners. */
  private sink: StreamSink | null = null;

  /**
   * Takes over `handle`: an accepted TCP connection (reading starts now), or
   * with `connecting`, one {@link connectHandle} is connecting (reading
   * starts on `connect`).
   */
  constructor(handle: object, b: HandleBindings, connecting = false) {
    this.b = b;
    this.handle = handle as StreamHandle;
    this.handle.wsrxSocket = this;
    this.handle.onread = onHandleRead;
    this.connecting = connecting;
    if (!connecting) this.startReading();
  }

  /** See `ByteStream.setSink`: `data` goes to `sink` alone; `end`, `close`, `error`, `drain` to it first. Null: back to events only. */
  setSink(sink: StreamSink | null): void {
    this.sink = sink;
  }

  get remoteAddress(): string | undefined {
    return this.peerName().address;
  }

  get remotePort(): number | undefined {
    return this.peerName().port;
  }

  /** Bytes accepted but not yet taken by the kernel (0 once destroyed: they never will be). */
  get writableLength(): number {
    // A closed handle's fields read undefined once node has freed it.
    return this.destroyed ? 0 : this.handle.writeQueueSize + this.corkedBytes;
  }

  setNoDelay(enable = true): this {
    if (!this.destroyed) this.handle.setNoDelay(enable);
    return this;
  }

  pause(): this {
    this.paused = true;
    if (this.reading) {
      this.reading = false;
      this.handle.readStop();
    }
    return this;
  }

  resume(): this {
    this.paused = false;
    this.startReading();
    return this;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked === 0) return;
    if (--this.corked === 0) this.flushCorked();
  }

  /** Writes `data` (a string as UTF-8). False once ended or destroyed (nothing is written then). */
  write(data: Buffer | string): boolean {
    if (this.destroyed || this.writableEnded) return false;
    if (this.corked > 0 || this.connecting) {
      const chunk = typeof data === 'string' ? Buffer.from(data) : data;
      this.corkedChunks.push(chunk);
      this.corkedBytes += chunk.length;
      return true;
    }
    this.writeNow(data);
    return !this.destroyed;
  }

  private writeNow(data: Buffer | string): void {
    const req = takeReq(this.b, this.handle);
    const err = typeof data === 'string' ? this.handle.writeUtf8String(req, data) : this.handle.writeBuffer(req, data);
    this.afterWrite(req, err, data);
  }

  /** Writes `data` if given, then sends FIN once everything queued is out. */
  end(data?: Buffer | string): this {
    if (data !== undefined) this.write(data);
    if (this.writableEnded) return this;
    this.writableEnded = true;
    this.corked = 0;
    if (this.connecting) {
      // FIN goes out once connected, after what waits.
      this.once('connect', endAfterConnect);
      return this;
    }
    this.flushCorked();
    this.shutdown();
    return this;
  }

  private shutdown(): void {
    if (this.destroyed) return;
    const req = new this.b.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = onShutdown;
    const err = this.handle.shutdown(req);
    // 1: done synchronously; ENOTCONN: the peer is gone already. Either way
    // the writable side is over; say so after the caller's next lines, as a
    // Writable emits `finish`.
    if (err === 1 || err === this.b.UV_ENOTCONN) process.nextTick(finishNT, this);
    else if (err !== 0) this.destroy(errnoError(err, 'shutdown'));
  }

  /** Closes the handle at once; `error` (if any) then `close` follow asynchronously. */
  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.reading = false;
    this.closeError = error ?? null;
    this.corkedChunks = [];
    this.corkedBytes = 0;
    this.handle.onread = ignoreRead;
    this.handle.close(onHandleClose);
    return this;
  }

  // ---- internals ---------------------------------------------------------

  private startReading(): void {
    if (this.reading || this.paused || this.readEnded || this.destroyed || this.connecting) return;
    this.reading = true;
    const err = this.handle.readStart();
    if (err !== 0) this.destroy(errnoError(err, 'read'));
  }

  private flushCorked(): void {
    const chunks = this.corkedChunks;
    if (chunks.length === 0) return;
    this.corkedBytes = 0;
    if (this.destroyed) {
      chunks.length = 0;
      return;
    }
    if (chunks.length === 1) {
      const only = chunks[0];
      chunks.length = 0;
      this.writeNow(only);
      return;
    }
    const req = takeReq(this.b, this.handle);
    const err = this.handle.writev(req, chunks, true);
    // libuv keeps the array while it writes: the next corked chunks get a new one.
    if (this.afterWrite(req, err, chunks)) this.corkedChunks = [];
    else chunks.length = 0;
  }

  /** Whether libuv kept the write (the kernel did not take it all): `data` stays referenced until it is done. */
  private afterWrite(req: WriteReq, err: number, data: Buffer | string | Buffer[]): boolean {
    if (err !== 0) {
      this.destroy(errnoError(err, 'write'));
      return false;
    }
    if (this.b.state[this.b.kLastWriteWasAsync] === 0) {
      spareReq = req;
      return false;
    }
    // libuv holds the request until the kernel takes the rest: keep the
    // memory alive and hear when it is done.
    req.data = data;
    req.oncomplete = onWriteComplete;
    this.asyncWrites++;
    return true;
  }

  private peerName(): { address?: string; port?: number } {
    if (this.peer === null) {
      const out: { address?: string; port?: number } = {};
      if (!this.destroyed) this.handle.getpeername(out);
      // Only a successful answer is kept (a closed socket has none).
      if (out.address !== undefined) this.peer = out;
      return out;
    }
    return this.peer;
  }

  /** @internal The TCP connect finished: `connect`, then what waited goes out and reading starts. */
  handleConnect(status: number, address: string, port: number): void {
    if (this.destroyed) return;
    if (status !== 0) {
      this.destroy(errnoError(status, 'connect', address, port));
      return;
    }
    this.connecting = false;
    this.emit('connect');
    if (this.destroyed) return;
    if (this.corked === 0) this.flushCorked();
    this.startReading();
  }

  /** @internal The deferred end() of a socket ended while connecting. */
  shutdownNow(): void {
    this.flushCorked();
    this.shutdown();
  }

  /** @internal */
  handleRead(nread: number, buffer: ArrayBuffer | undefined, offset: number): void {
    if (nread > 0) {
      if (this.destroyed) return;
      const chunk = Buffer.from(buffer!, offset, nread);
      if (this.sink !== null) this.sink.receive(chunk);
      else this.emit('data', chunk);
      return;
    }
    if (nread === 0) return;
    if (nread !== this.b.UV_EOF) {
      this.destroy(errnoError(nread, 'read'));
      return;
    }
    if (this.readEnded) return;
    this.readEnded = true;
    this.reading = false;
    this.sink?.handleEnd();
    this.emit('end');
    // allowHalfOpen: false, as net.Server's sockets: the peer's FIN is answered with ours.
    if (this.destroyed) return;
    if (!this.writableEnded) this.end();
    else if (this.writableFinished) this.destroy();
  }

  /** @internal */
  handleWriteComplete(status: number): void {
    this.asyncWrites--;
    if (this.destroyed) return;
    if (status < 0) {
      this.destroy(errnoError(status, 'write'));
      return;
    }
    if (this.asyncWrites === 0) {
      this.sink?.handleDrain();
      this.emit('drain');
    }
  }

  /** @internal */
  handleFinish(): void {
    if (this.writableFinished || this.destroyed) return;
    this.writableFinished = true;
    this.emit('finish');
    if (this.readEnded) this.destroy();
  }

  /** @internal */
  handleClose(): void {
    const error = this.closeError;
    const sink = this.sink;
    if (sink !== null) {
      if (error !== null) sink.handleError(error);
      sink.finish();
    }
    if (error !== null && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error !== null);
  }
}

Object.setPrototypeOf(HandleSocket.prototype, EventEmitter.prototype);

/** A write request for `handle`: the spare one, or a new one. */
function takeReq(b: HandleBindings, handle: StreamHandle): WriteReq {
  let req = spareReq;
  if (req !== null) spareReq = null;
  else {
    req = new b.WriteWrap();
    req.oncomplete = noopComplete;
    req.data = null;
  }
  req.handle = handle;
  return req;
}

function onHandleRead(this: StreamHandle, buffer: ArrayBuffer | undefined): void {
  // A socket exists, so the bindings were loaded.
  const b = bindings!;
  this.wsrxSocket!.handleRead(b.state[b.kReadBytesOrError], buffer, b.state[b.kArrayBufferOffset]);
}

function onWriteComplete(this: WriteReq, status: number): void {
  this.data = null;
  this.handle.wsrxSocket!.handleWriteComplete(status);
}

function onShutdown(this: ShutdownReq): void {
  this.handle.wsrxSocket!.handleFinish();
}

function endAfterConnect(this: HandleSocket): void {
  this.shutdownNow();
}

function onConnect(this: ConnectReq, status: number, handle: StreamHandle, req: ConnectReq): void {
  handle.wsrxSocket!.handleConnect(status, req.address, req.port);
}

function connectFailedNT(socket: HandleSocket, err: number, address: string, port: number): void {
  socket.handleConnect(err, address, port);
}

function finishNT(socket: HandleSocket): void {
  socket.handleFinish();
}

function onHandleClose(this: StreamHandle): void {
  this.wsrxSocket!.handleClose();
}

/**
 * Makes a listening `net.Server` hand its plain-TCP connections to
 * `onSocket` as {@link HandleSocket}s instead of building a `net.Socket` for
 * each (`net` keeps binding, listening, `address()` and `close()`). Call it
 * on `listening`, before the loop can accept anything. False, and nothing
 * changed, when the handle classes are not usable here or the server's
 * handle is not a TCP handle (a cluster worker's shared handle, a pipe).
 */
export function acceptHandles(server: net.Server, onSocket: (socket: HandleSocket) => void): boolean {
  const b = handleBindings();
  const listening = (server as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
  if (b === null || listening == null || !(listening instanceof b.TCP) || typeof listening.onconnection !== 'function') return false;
  listening.onconnection = (err: number, client: object | undefined): void => {
    if (err) {
      server.emit('error', errnoError(err, 'accept'));
      return;
    }
    onSocket(new HandleSocket(client!, b));
  };
  return true;
}

/**
 * Opens a client TCP connection to `address` (an IP literal: v4 or v6) and
 * `port` on a libuv handle: `connect` once connected, or `error` and `close`
 * (ECONNREFUSED, say). Null when the handle classes are not usable here or
 * `address` is not an IP (names go through `net.connect`, which resolves them).
 */
export function connectHandle(address: string, port: number): HandleSocket | null {
  const b = handleBindings();
  const family = isIP(address);
  if (b === null || family === 0) return null;
  const handle = new b.TCP(b.SOCKET) as StreamHandle;
  const socket = new HandleSocket(handle, b, true);
  const req = new b.TCPConnectWrap();
  req.oncomplete = onConnect;
  req.address = address;
  req.port = port;
  const err = family === 4 ? handle.connect(req, address, port) : handle.connect6(req, address, port);
  // As net.Socket does: the failure is reported after the caller has attached its listeners.
  if (err !== 0) process.nextTick(connectFailedNT, socket, err, address, port);
  return socket;
}
