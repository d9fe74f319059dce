import { expect } from 'chai';
import { applyMask, applyMaskRotated, applyMaskSimd, SIMD_THRESHOLD, simdMasking } from '../../lib/protocol/mask';
import { rng } from '../helpers';

/** Lengths around every edge: the byte loop, the word loop, the SIMD threshold, its 64-byte steps and 16 KiB blocks. */
function lengths(r: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 150; i++) out.push(Math.floor(r() * 300));
  for (let i = 0; i < 60; i++) out.push(SIMD_THRESHOLD - 70 + Math.floor(r() * 140));
  for (let i = 0; i < 30; i++) out.push(16 * 1024 - 70 + Math.floor(r() * 140));
  for (let i = 0; i < 20; i++) out.push(Math.floor(r() * 70_000));
  return out;
}

function check(name: string, run: (buf: Buffer, start: number, end: number, key: number, phase: number) => void): void {
  const r = rng(name.length * 7919);
  let round = 0;
  for (const len of lengths(r)) {
    const offset = Math.floor(r() * 8);
    const phase = Math.floor(r() * 4);
    const key = Math.floor(r() * 2 ** 32) >>> 0;
    const base = Buffer.alloc(len + 16);
    for (let i = 0; i < base.length; i++) base[i] = Math.floor(r() * 256);
    const buf = Buffer.from(base);
    run(buf, offset, offset + len, key, phase);
    const kb = [key >>> 24, (key >>> 16) & 0xff, (key >>> 8) & 0xff, key & 0xff];
    for (let i = 0; i < base.length; i++) {
      const inRange = i >= offset && i < offset + len;
      const expected = inRange ? base[i] ^ kb[(i - offset + phase) & 3] : base[i];
      if (buf[i] !== expected) expect.fail(`${name}: byte ${i} of round ${round} (length ${len}, offset ${offset}, phase ${phase})`);
    }
    round++;
  }
}

/** The key rotated so that byte `phase` of it applies first, as applyMask does before either loop. */
const rotate = (key: number, phase: number): number => {
  const shift = (phase & 3) * 8;
  return shift === 0 ? key | 0 : ((key << shift) | (key >>> (32 - shift))) | 0;
};

describe('protocol/mask', () => {
  it('masks like the byte-by-byte definition, at any length, alignment and phase', () => {
    check('applyMask', (buf, start, end, key, phase) => applyMask(buf, start, end, key, phase));
  });

  it('the JS loop alone is right at every length (below and above the SIMD threshold)', () => {
    check('js', (buf, start, end, key, phase) => applyMaskRotated(buf, start, end, rotate(key, phase)));
  });

  it('the WebAssembly SIMD loop alone is right at every length, including tails and 16 KiB blocks', () => {
    expect(simdMasking, 'Node 20 has WebAssembly SIMD').to.equal(true);
    check('simd', (buf, start, end, key, phase) => {
      expect(applyMaskSimd(buf, start, end, rotate(key, phase))).to.equal(true);
    });
  });

  it('a zero key or an empty range changes nothing', () => {
    const buf = Buffer.from('abcdefgh'.repeat(300));
    const copy = Buffer.from(buf);
    applyMask(buf, 0, buf.length, 0);
    applyMask(buf, 5, 5, 0x12345678);
    expect(buf.equals(copy)).to.equal(true);
  });
});
