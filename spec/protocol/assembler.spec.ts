import { expect } from 'chai';
import { LARGE, MessageAssembler } from '../../lib/protocol/assembler';
import { allocations, frame, randomSplit, rng } from '../helpers';
import { collect } from './recorder';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** `n` bytes of a pattern, alone in their own memory or as a view into a bigger buffer. */
function bytes(n: number, seed: number, within = n): Buffer {
  const host = Buffer.alloc(Math.max(within, n) + 8);
  const view = host.subarray(3, 3 + n);
  for (let i = 0; i < n; i++) view[i] = (seed * 31 + i * 7) & 0xff;
  return within === n && n >= 4096 ? Buffer.from(view) : view;
}

describe('protocol/assembler', () => {
  it('gives back the fragments in order, for any mix of sizes', () => {
    const sizes = [0, 1, 2, 100, 1023, 1024, 1025, 3000, LARGE - 1, LARGE, LARGE + 1, 20000, 70000];
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const a = new MessageAssembler();
      const parts: Buffer[] = [];
      const count = 1 + Math.floor(r() * 30);
      for (let i = 0; i < count; i++) {
        const n = sizes[Math.floor(r() * sizes.length)];
        // Half of them are views into memory four times their size.
        const part = bytes(n, seed * 100 + i, r() < 0.5 ? n : 4 * n);
        parts.push(Buffer.from(part));
        a.add(part);
      }
      const expected = Buffer.concat(parts);
      expect(a.length).to.equal(expected.length);
      const message = a.take();
      expect(message.equals(expected), `seed ${seed}`).to.equal(true);
      expect(a.length).to.equal(0);
      expect(a.take().length).to.equal(0);
    }
  });

  it('keeps a large fragment that fills its memory by reference (no copy)', () => {
    const big = bytes(LARGE * 2, 1);
    const a = new MessageAssembler();
    a.add(big);
    a.add(Buffer.alloc(0));
    expect(a.take()).to.equal(big);
  });

  it('copies a fragment that would keep a much larger buffer alive', () => {
    const host = Buffer.alloc(1 << 20, 7);
    const view = host.subarray(1000, 1000 + LARGE * 2);
    const a = new MessageAssembler();
    a.add(view);
    const message = a.take();
    expect(message.equals(view)).to.equal(true);
    expect(message.buffer).to.not.equal(host.buffer);
    expect(message.buffer.byteLength).to.be.below(host.length / 4);
  });

  it('one-byte fragments cost a few allocations, not one each, and about their own size', () => {
    const n = 200_000;
    const one = Buffer.from('a');
    const a = new MessageAssembler();
    let message: Buffer = Buffer.alloc(0);
    const sizes = allocations(() => {
      for (let i = 0; i < n; i++) a.add(one);
      message = a.take();
    });
    expect(message.length).to.equal(n);
    expect(message.every((b) => b === 0x61)).to.equal(true);
    // Segments double (1 KiB, 1 KiB, 2 KiB, ..., less than 2n in all), then
    // one concat of n bytes.
    expect(sizes.length).to.be.at.most(Math.ceil(Math.log2(n / 1024)) + 3);
    expect(sum(sizes)).to.be.at.most(3 * n + 1024);
  });

  it('alternating small and large fragments allocate in proportion to the message, not its square', () => {
    const a = new MessageAssembler();
    const parts: Buffer[] = [];
    const sizes = allocations(() => {
      for (let i = 0; i < 2000; i++) {
        const small = Buffer.alloc(3000, i & 0xff);
        const large = Buffer.alloc(LARGE + 904, (i + 1) & 0xff);
        parts.push(small, large);
        a.add(small);
        a.add(large);
      }
    });
    const total = sum(parts.map((p) => p.length));
    const message = a.take();
    expect(message.equals(Buffer.concat(parts))).to.equal(true);
    // While adding, segments for the small ones only: the large ones are kept
    // as they are until take() concatenates.
    expect(sum(sizes)).to.be.at.most(2 * 2000 * 3000 + 1024 * 2000);
    expect(total).to.equal(2000 * (3000 + LARGE + 904));
  });

  it('reset drops what was added', () => {
    const a = new MessageAssembler();
    a.add(Buffer.from('abc'));
    a.add(bytes(LARGE, 2));
    a.reset();
    expect(a.length).to.equal(0);
    a.add(Buffer.from('xyz'));
    expect(a.take().toString()).to.equal('xyz');
  });

  it('the parser assembles thousands of fragments of every size however the bytes are cut', () => {
    const r = rng(77);
    const parts: Buffer[] = [];
    const frames: Buffer[] = [];
    const count = 3000;
    for (let i = 0; i < count; i++) {
      const n = r() < 0.9 ? Math.floor(r() * 8) : Math.floor(r() * 3 * LARGE);
      const p = bytes(n, i);
      parts.push(p);
      frames.push(frame(i === 0 ? 2 : 0, p, { fin: i === count - 1, mask: Buffer.from([1, 2, 3, 4]) }));
      if (i % 500 === 7) frames.push(frame(9, Buffer.from('ping'), { mask: Buffer.from([5, 6, 7, 8]) }));
    }
    const wire = Buffer.concat(frames);
    const expected = Buffer.concat(parts);
    for (const pieces of [[wire], randomSplit(wire, 1, 9), randomSplit(wire, 2, 70000), randomSplit(wire, 3, 1000)]) {
      const c = collect(pieces, 'server');
      expect(c.errors).to.deep.equal([]);
      expect(c.messages.length).to.equal(1);
      expect(c.messages[0].payload.equals(expected)).to.equal(true);
    }
  });
});
