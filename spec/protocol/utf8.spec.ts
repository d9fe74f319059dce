import { expect } from 'chai';
import { isUtf8 } from 'node:buffer';
import { isValidUtf8, Utf8Validator } from '../../lib/protocol/utf8';
import { rng } from '../helpers';

describe('protocol/utf8', () => {
  it('agrees with buffer.isUtf8 on every 1- and 2-byte input and on 3-byte inputs with an E0–F4 lead', () => {
    const b1 = Buffer.alloc(1);
    for (let a = 0; a < 256; a++) {
      b1[0] = a;
      expect(isValidUtf8(b1), `${a}`).to.equal(isUtf8(b1));
    }
    const b2 = Buffer.alloc(2);
    for (let a = 0; a < 256; a++)
      for (let b = 0; b < 256; b++) {
        b2[0] = a;
        b2[1] = b;
        if (isValidUtf8(b2) !== isUtf8(b2)) expect.fail(`mismatch on ${b2.toString('hex')}`);
      }
    const b3 = Buffer.alloc(3);
    for (let a = 0xe0; a <= 0xf4; a++)
      for (let b = 0x70; b < 0xd0; b++)
        for (let c = 0x70; c < 0xd0; c++) {
          b3[0] = a;
          b3[1] = b;
          b3[2] = c;
          if (isValidUtf8(b3) !== isUtf8(b3)) expect.fail(`mismatch on ${b3.toString('hex')}`);
        }
  });

  it('the incremental validator agrees with buffer.isUtf8 on random text split at random points', () => {
    const r = rng(99);
    const alphabet = ['a', 'é', '€', '😀', 'κ', '\u0000', '\u07ff', '\uffff', '\u{10ffff}'];
    for (let round = 0; round < 500; round++) {
      let s = '';
      const n = Math.floor(r() * 60);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
      const bytes = Buffer.from(s);
      // Corrupt one byte in half the rounds.
      if (round % 2 && bytes.length) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const v = new Utf8Validator();
      let ok = true;
      for (let i = 0; i < bytes.length && ok; ) {
        const k = 1 + Math.floor(r() * 20);
        ok = v.write(bytes, i, Math.min(bytes.length, i + k));
        i += k;
      }
      expect(ok && v.complete, bytes.toString('hex')).to.equal(isUtf8(bytes));
    }
  });

  it('fails at the first impossible byte, not at the end', () => {
    const v = new Utf8Validator();
    expect(v.write(Buffer.from('valid prefix that is long enough'))).to.equal(true);
    expect(v.write(Buffer.from([0xe2, 0x82]))).to.equal(true); // incomplete but possible
    expect(v.complete).to.equal(false);
    expect(v.write(Buffer.from([0xac]))).to.equal(true);
    expect(v.complete).to.equal(true);
    expect(v.write(Buffer.from([0xed]))).to.equal(true);
    expect(v.write(Buffer.from([0xa0]))).to.equal(false); // a surrogate: impossible at this byte
  });

  it('checks long buffers through the native fast path with a sequence open at the end', () => {
    const v = new Utf8Validator();
    const text = Buffer.from('x'.repeat(100) + '😀');
    expect(v.write(text, 0, text.length - 2)).to.equal(true);
    expect(v.complete).to.equal(false);
    expect(v.write(text, text.length - 2)).to.equal(true);
    expect(v.complete).to.equal(true);
    const bad = Buffer.concat([Buffer.from('y'.repeat(100)), Buffer.from([0xc0, 0xaf]), Buffer.from('z'.repeat(40))]);
    expect(new Utf8Validator().write(bad)).to.equal(false);
  });
});
