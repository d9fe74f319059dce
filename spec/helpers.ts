/**
 * Test helpers: hand-built frames (independent of the library's writer) and
 * chunking drivers.
 */

/** Builds one frame's bytes by hand. `mask` is a 4-byte key or null. */
export function frame(
  opcode: number,
  payload: Buffer | string,
  opts: { fin?: boolean; rsv?: number; mask?: Buffer | null; length?: number } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = opts.fin ?? true;
  const mask = opts.mask === undefined ? null : opts.mask;
  const len = opts.length ?? data.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 0x10000) head.push(m | 126, len >> 8, len & 0xff);
  else {
    const hi = Math.floor(len / 2 ** 32);
    const lo = len >>> 0;
    head.push(m | 127, (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
  }
  const body = Buffer.from(data);
  if (mask) {
    head.push(...mask);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** A client frame: masked with a fixed key unless one is given. */
export function clientFrame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; rsv?: number; mask?: Buffer } = {}): Buffer {
  return frame(opcode, payload, { ...opts, mask: opts.mask ?? Buffer.from([0x37, 0xfa, 0x21, 0x3d]) });
}

/** A close frame payload: code then reason. */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Every way to cut `bytes` into two pieces, plus byte by byte. */
export function* splits(bytes: Buffer): Generator<Buffer[]> {
  yield [bytes];
  for (let i = 1; i < bytes.length; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  yield single;
}

/** Seeded PRNG (mulberry32) for reproducible random splits. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `bytes` at random points (seeded). */
export function randomSplit(bytes: Buffer, seed: number, maxPiece = 7): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(r() * maxPiece);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Copies each piece so in-place unmasking cannot leak between runs. */
export function fresh(pieces: Buffer[]): Buffer[] {
  return pieces.map((p) => Buffer.from(p));
}

/** Resolves when `predicate` holds, polling on each macrotask turn; rejects after `ms`. */
export async function until(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Runs `fn` with `Buffer.allocUnsafe` recording the sizes asked for, and
 * returns them; `fn` sees the list as it grows.
 */
export function allocations(fn: (sizes: number[]) => void): number[] {
  const original = Buffer.allocUnsafe;
  const sizes: number[] = [];
  Buffer.allocUnsafe = (size: number) => {
    sizes.push(size);
    return original(size);
  };
  try {
    fn(sizes);
  } finally {
    Buffer.allocUnsafe = original;
  }
  return sizes;
}
