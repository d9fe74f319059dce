/**
 * The least a WebSocket echo server on Node can do when it drives libuv's TCP
 * handles itself, as ws-rx's `HandleSocket` does, instead of `net.Socket`: the
 * bench harness's `node_min_echo.js` (handshake, unmask, echo; no
 * validation) without Node's stream layer: the ceiling for ws-rx's
 * `HandleSocket`. `npm run bench` runs it beside the harness's peers
 * (bench/run.ts, part "server"); by hand:
 *
 *   node dist/bench/handle-min-echo.js 9400
 *   SERVERS="handle-min=node --no-deprecation $PWD/dist/bench/handle-min-echo.js" ../shared/bench/run.sh ws handle-min
 *
 * It needs Node's internal bindings (`process.binding`); there is no fallback.
 */
import { createHash } from 'node:crypto';
import { frameReader, writeHeader } from './frame-header';

interface Handle {
  onread: (this: Handle, buffer: ArrayBuffer | undefined) => void;
  readStart(): number;
  writeBuffer(req: object, data: Buffer): number;
  writev(req: object, chunks: Buffer[], allBuffers: true): number;
  shutdown(req: object): number;
  close(): void;
  setNoDelay(on: boolean): number;
  /** This connection's frame reader (bench/frame-header.ts). */
  read?: (chunk: Buffer) => void;
  closed?: boolean;
}

const binding = (process as unknown as { binding(name: string): Record<string, any> }).binding;
const { TCP, constants } = binding('tcp_wrap');
const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = binding('stream_wrap');
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const port = Number(process.argv[2] ?? 9400);

function noop(): void {}

function write(h: Handle, chunks: Buffer[]): void {
  const req = new WriteWrap();
  req.handle = h;
  req.oncomplete = noop;
  const err = chunks.length === 1 ? h.writeBuffer(req, chunks[0]) : h.writev(req, chunks, true);
  if (err !== 0) h.close();
  else if (streamBaseState[kLastWriteWasAsync]) req.chunks = chunks; // alive until written
}

/** Echoes of one read leave in one write (as node-min's cork/uncork). */
let out: Buffer[] = [];

/** The frame reader of connection `h`: answers the upgrade, echoes frames, answers close and sends FIN. */
function reader(h: Handle): (chunk: Buffer) => void {
  return frameReader(
    true,
    (head) => {
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)![1];
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      write(h, [Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1')]);
      return true;
    },
    (b0, payload) => {
      const opcode = b0 & 0x0f;
      if (opcode === 0xa) return true;
      // A ping is answered with a pong, as node-min does.
      out.push(writeHeader(opcode === 0x9 ? (b0 & 0xf0) | 0xa : b0, payload.length, false), payload);
      if (opcode !== 0x8) return true;
      write(h, out);
      out = [];
      const req = new ShutdownWrap();
      req.handle = h;
      req.oncomplete = noop;
      h.shutdown(req);
      return false;
    },
  );
}

function onread(this: Handle, ab: ArrayBuffer | undefined): void {
  const nread: number = streamBaseState[kReadBytesOrError];
  if (nread <= 0) {
    if (nread < 0 && !this.closed) {
      this.closed = true;
      this.close();
    }
    return;
  }
  this.read!(Buffer.from(ab!, streamBaseState[kArrayBufferOffset], nread));
  if (out.length > 0) {
    write(this, out);
    out = [];
  }
}

const server = new TCP(constants.SERVER);
if (server.bind('127.0.0.1', port) !== 0) throw new Error(`cannot bind 127.0.0.1:${port}`);
server.onconnection = (err: number, h: Handle): void => {
  if (err) return;
  h.read = reader(h);
  h.onread = onread;
  h.setNoDelay(true);
  h.readStart();
};
if (server.listen(511) !== 0) throw new Error('listen failed');
console.log(`handle-min echo on ${port}`);
