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

interface Handle {
  onread: (this: Handle, buffer: ArrayBuffer | undefined) => void;
  readStart(): number;
  writeBuffer(req: object, data: Buffer): number;
  writev(req: object, chunks: Buffer[], allBuffers: true): number;
  shutdown(req: object): number;
  close(): void;
  setNoDelay(on: boolean): number;
  state?: { buf: Buffer; open: boolean; closed: boolean };
}

const binding = (process as unknown as { binding(name: string): Record<string, any> }).binding;
const { TCP, constants } = binding('tcp_wrap');
const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = binding('stream_wrap');
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const port = Number(process.argv[2] ?? 9400);
const empty = Buffer.alloc(0);

function noop(): void {}

function write(h: Handle, chunks: Buffer[]): void {
  const req = new WriteWrap();
  req.handle = h;
  req.oncomplete = noop;
  const err = chunks.length === 1 ? h.writeBuffer(req, chunks[0]) : h.writev(req, chunks, true);
  if (err !== 0) h.close();
  else if (streamBaseState[kLastWriteWasAsync]) req.chunks = chunks; // alive until written
}

function onread(this: Handle, ab: ArrayBuffer | undefined): void {
  const nread: number = streamBaseState[kReadBytesOrError];
  const st = this.state!;
  if (nread <= 0) {
    if (nread < 0 && !st.closed) {
      st.closed = true;
      this.close();
    }
    return;
  }
  const chunk = Buffer.from(ab!, streamBaseState[kArrayBufferOffset], nread);
  let buf = st.buf.length > 0 ? Buffer.concat([st.buf, chunk]) : chunk;
  if (!st.open) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      st.buf = Buffer.from(buf);
      return;
    }
    const key = /sec-websocket-key:\s*(\S+)/i.exec(buf.toString('latin1', 0, end))![1];
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    write(this, [Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1')]);
    buf = buf.subarray(end + 4);
    st.open = true;
  }
  let off = 0;
  const out: Buffer[] = [];
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      hdr = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const total = hdr + (masked ? 4 : 0) + len;
    if (buf.length - off < total) break;
    const payload = Buffer.from(buf.subarray(off + hdr + (masked ? 4 : 0), off + total));
    if (masked) for (let i = 0, k = off + hdr; i < len; i++) payload[i] ^= buf[k + (i & 3)];
    let head: Buffer;
    if (len < 126) head = Buffer.from([b0, len]);
    else if (len < 65536) {
      head = Buffer.alloc(4);
      head[0] = b0;
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = b0;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    off += total;
    const op = b0 & 0x0f;
    if (op === 0x8) {
      out.push(head, payload);
      write(this, out);
      const req = new ShutdownWrap();
      req.handle = this;
      req.oncomplete = noop;
      this.shutdown(req);
      st.buf = empty;
      return;
    }
    if (op !== 0xa) out.push(head, payload);
  }
  if (out.length > 0) write(this, out);
  st.buf = off === buf.length ? empty : Buffer.from(buf.subarray(off));
}

const server = new TCP(constants.SERVER);
if (server.bind('127.0.0.1', port) !== 0) throw new Error(`cannot bind 127.0.0.1:${port}`);
server.onconnection = (err: number, h: Handle): void => {
  if (err) return;
  h.state = { buf: empty, open: false, closed: false };
  h.onread = onread;
  h.setNoDelay(true);
  h.readStart();
};
if (server.listen(511) !== 0) throw new Error('listen failed');
console.log(`handle-min echo on ${port}`);
