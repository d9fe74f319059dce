import { expect } from 'chai';
import { isUtf8 } from 'node:buffer';
import { decodeText, decodeTextPaths, isValidUtf8, Utf8Validator } from '../../lib/protocol/utf8';
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

  describe('decodeText', () => {
    // Lengths on both sides of the ASCII probe (1024) and of the UTF-16 path (4096).
    const lengths = [0, 1, 100, 1023, 1024, 1025, 4095, 4096, 4097, 65536, (1 << 20) + 3];

    it('has both fast paths on this Node, so the tests below exercise them', () => {
      expect(decodeTextPaths.ascii, 'buffer.isAscii').to.equal(true);
      expect(decodeTextPaths.utf16, 'buffer.transcode (ICU)').to.equal(Boolean(process.versions.icu));
    });

    it("gives buf.toString('utf8') for ASCII, with one non-ASCII character at the start, middle or end, at every threshold", () => {
      for (const n of lengths) {
        const ascii = Buffer.alloc(n);
        for (let i = 0; i < n; i++) ascii[i] = (i * 31) & 0x7f; // all of 0x00..0x7f, 0x7f included
        expect(decodeText(ascii) === ascii.toString('utf8'), `ascii ${n}`).to.equal(true);
        for (const ch of ['é', '€', '😀', '\ufeff']) {
          const c = Buffer.from(ch);
          if (n < c.length) continue;
          for (const at of [0, (n >> 1) - ((n >> 1) % 4), n - c.length]) {
            const buf = Buffer.from(ascii);
            c.copy(buf, at);
            expect(decodeText(buf) === buf.toString('utf8'), `${n} with ${ch} at ${at}`).to.equal(true);
          }
        }
      }
    });

    it('gives back the string that was encoded, for random text of every kind of code point (BOM, NUL, noncharacters, astral)', () => {
      const r = rng(2026);
      const alphabets = [
        ['a', 'Z', '{', '"', '\u007f'],
        ['a', 'é', 'ß', '\u00ff'],
        ['a', 'é', '€', '😀', 'κ', '\u0000', '\u07ff', '\uffff', '\ufffe', '\ufeff', '\u{10ffff}', '日本'],
      ];
      for (let round = 0; round < 60; round++) {
        const alphabet = alphabets[round % alphabets.length];
        const n = Math.floor(r() * 9000);
        let s = round % 2 ? '\ufeff' : '';
        while (s.length < n) s += alphabet[Math.floor(r() * alphabet.length)];
        const bytes = Buffer.from(s);
        const got = decodeText(bytes);
        if (got !== s) expect.fail(`round ${round}: ${bytes.length} bytes decoded differently`);
      }
    });

    it('decodes a view into a larger buffer from its own offset only', () => {
      for (const text of ['x'.repeat(5000), 'é'.repeat(3000), 'y'.repeat(2000)]) {
        const inner = Buffer.from(text);
        const outer = Buffer.concat([Buffer.from('\u00e9\u00e9'), inner, Buffer.from('😀😀')]);
        const view = outer.subarray(4, 4 + inner.length);
        expect(decodeText(view) === text, text.slice(0, 3)).to.equal(true);
      }
    });
  });
});
