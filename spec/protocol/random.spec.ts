import { expect } from 'chai';
import { randomMaskKey } from '../../lib/protocol/mask';
import { randomBase64, randomUint32 } from '../../lib/protocol/random';
import { generateKey } from '../../lib/protocol/handshake';

describe('protocol/random (pooled CSPRNG bytes)', () => {
  it('never hands out the same bytes twice, across many pool refills, whatever the draw sizes', () => {
    // 8 KiB pool: 20,000 mixed draws cross its end dozens of times, at every alignment.
    const keys = new Set<string>();
    const words = new Set<number>();
    let drawnKeys = 0;
    let repeatedWords = 0;
    for (let i = 0; i < 20_000; i++) {
      if (i % 3 !== 1) drawnKeys++;
      if (i % 3 === 0) keys.add(generateKey());
      else if (i % 3 === 1) {
        const w = i % 2 ? randomUint32() : randomMaskKey();
        if (words.has(w)) repeatedWords++;
        words.add(w);
      } else keys.add(randomBase64(5 + (i % 11)));
    }
    // 16-byte keys and 5–15-byte strings: a repeat would mean reused pool bytes.
    expect(keys.size).to.equal(drawnKeys);
    // 32-bit words: ~6,700 draws give a birthday collision with probability ~0.5 %; more than one means reuse.
    expect(repeatedWords).to.be.at.most(1);
  });

  it('draws look uniform: every bit of 4,000 words is set about half the time', () => {
    const ones = new Array(32).fill(0);
    for (let i = 0; i < 4000; i++) {
      const w = randomUint32();
      expect(w).to.be.within(0, 2 ** 32 - 1);
      for (let b = 0; b < 32; b++) if ((w >>> b) & 1) ones[b]++;
    }
    // Mean 2000, sd ~32: 6 sd either way.
    for (const n of ones) expect(n).to.be.within(1800, 2200);
  });

  it('a Sec-WebSocket-Key is 16 bytes in base64', () => {
    const key = generateKey();
    expect(key).to.match(/^[A-Za-z0-9+/]{22}==$/);
    expect(Buffer.from(key, 'base64')).to.have.length(16);
  });
});
