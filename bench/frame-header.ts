/** Frame headers for the benchmarks' light peers (RFC 6455 §5.2). */

/**
 * The header of the frame at `buf[at]`: its length in bytes (without the
 * mask key) and the payload length, or null if it is not all there yet.
 */
export function readHeader(buf: Buffer, at: number): { headerLength: number; payloadLength: number } | null {
  if (buf.length - at < 2) return null;
  const n = buf[at + 1] & 0x7f;
  if (n < 126) return { headerLength: 2, payloadLength: n };
  if (n === 126) return buf.length - at < 4 ? null : { headerLength: 4, payloadLength: buf.readUInt16BE(at + 2) };
  return buf.length - at < 10 ? null : { headerLength: 10, payloadLength: buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6) };
}

/** A frame header: first byte `b0`, payload length `n`, the mask bit when `masked` (the key is not included). */
export function writeHeader(b0: number, n: number, masked: boolean): Buffer {
  const m = masked ? 0x80 : 0;
  if (n < 126) return Buffer.from([b0, m | n]);
  const h = Buffer.allocUnsafe(n < 65536 ? 4 : 10);
  h[0] = b0;
  if (n < 65536) {
    h[1] = m | 126;
    h.writeUInt16BE(n, 2);
  } else {
    h[1] = m | 127;
    h.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    h.writeUInt32BE(n >>> 0, 6);
  }
  return h;
}

/** An HTTP head at the start of `buf` (latin1) and the bytes after it, or null until its blank line is there. */
export function splitHead(buf: Buffer): { head: string; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  return { head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) };
}

/**
 * A 'data' listener for a light peer: `onHead` gets the HTTP head once
 * (false: stop reading), then `onFrame` every complete frame, payload
 * unmasked when `masked` (false: stop reading).
 */
export function frameReader(
  masked: boolean,
  onHead: (head: string) => boolean,
  onFrame: (b0: number, payload: Buffer) => boolean,
): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let open = false;
  let stopped = false;
  return (chunk) => {
    if (stopped) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!open) {
      const split = splitHead(buf);
      if (split === null) return;
      open = true;
      buf = split.rest;
      if (!onHead(split.head)) return void (stopped = true);
    }
    let at = 0;
    for (;;) {
      const header = readHeader(buf, at);
      if (header === null) break;
      const start = at + header.headerLength + (masked ? 4 : 0);
      const end = start + header.payloadLength;
      if (buf.length < end) break;
      const b0 = buf[at];
      let payload = buf.subarray(start, end);
      if (masked) {
        const key = buf.subarray(start - 4, start);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      at = end;
      if (!onFrame(b0, payload)) return void (stopped = true);
    }
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  };
}
