/**
 * Byte-stream helpers shared by the fuzz targets: cutting into chunks,
 * mutating, and the JSON form of inputs in regressions.json.
 */

/** Cuts `bytes` at `cuts` (any naturals, reduced modulo the length). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

/** A mutation of a byte stream; `header` hits byte `at` of frame `frame` (given frame starts). */
export type Mutation =
  | { op: 'set'; pos: number; value: number }
  | { op: 'flip'; pos: number; bit: number }
  | { op: 'insert'; pos: number; bytes: Buffer }
  | { op: 'delete'; pos: number; len: number }
  | { op: 'truncate'; pos: number }
  | { op: 'header'; frame: number; at: number; value: number };

/** Applies `mutations` in order to a copy of `bytes`; `starts` are frame offsets (for `header`). */
export function mutate(bytes: Buffer, starts: number[], mutations: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    const n = b.length;
    switch (m.op) {
      case 'set':
        if (n > 0) b[m.pos % n] = m.value;
        break;
      case 'flip':
        if (n > 0) b[m.pos % n] ^= 1 << m.bit;
        break;
      case 'insert': {
        const p = m.pos % (n + 1);
        b = Buffer.concat([b.subarray(0, p), m.bytes, b.subarray(p)]);
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const p = m.pos % n;
        b = Buffer.concat([b.subarray(0, p), b.subarray(p + m.len)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, m.pos % (n + 1));
        break;
      case 'header': {
        if (starts.length === 0) break;
        const p = starts[m.frame % starts.length] + m.at;
        if (p < n) b[p] = m.value;
        break;
      }
    }
  }
  return b;
}

/** Buffers as `{ "$hex": "..." }`, recursively. */
export function toJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $hex: value.toString('hex') };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

export function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$hex === 'string' && Object.keys(o).length === 1) return Buffer.from(o.$hex, 'hex');
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}
