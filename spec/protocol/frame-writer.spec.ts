import { expect } from 'chai';
import { FrameParser } from '../../lib/protocol/frame-parser';
import { FrameWriter } from '../../lib/protocol/frame-writer';
import { ParserRecorder } from './recorder';
import { randomSplit, rng } from '../helpers';

function parse(bytes: Buffer, role: 'client' | 'server', frames = false) {
  const rec = new ParserRecorder();
  const p = new FrameParser(rec, { role, maxPayload: 1 << 26 });
  p.emitFrames = frames;
  for (const piece of randomSplit(Buffer.from(bytes), 3, 9000)) p.receive(piece);
  return rec.events;
}

const joined = (w: FrameWriter) => Buffer.concat(w.take() ?? []);

describe('protocol/frame-writer', () => {
  it('server frames round-trip through the client parser for every length class', () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000, 300000]) {
      const w = new FrameWriter(false);
      const payload = Buffer.alloc(n, n & 0xff);
      w.frame(0x82, payload);
      w.textFrame(0x81, 'é'.repeat(Math.floor(n / 2)));
      const out = joined(w);
      expect(out[1] & 0x80, 'server frames are unmasked').to.equal(0);
      expect(parse(out, 'client')).to.deep.equal([
        ['message', payload.toString('hex'), false],
        ['message', Buffer.from('é'.repeat(Math.floor(n / 2))).toString('hex'), true],
      ]);
    }
  });

  it('client frames are masked with fresh keys and round-trip through the server parser', () => {
    const w = new FrameWriter(true);
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      w.textFrame(0x81, 'hello');
      const out = joined(w);
      expect(out[1] & 0x80).to.equal(0x80);
      keys.add(out.subarray(2, 6).toString('hex'));
      expect(parse(out, 'server')).to.deep.equal([['message', Buffer.from('hello').toString('hex'), true]]);
    }
    expect(keys.size).to.be.greaterThan(45);
  });

  it('uses the minimal length encoding for strings near the class boundaries (RFC 6455 §5.2)', () => {
    for (const s of ['a'.repeat(125), 'a'.repeat(126), 'é'.repeat(62), 'é'.repeat(63), '€'.repeat(41), '€'.repeat(42), 'a'.repeat(65535), 'a'.repeat(65536), '€'.repeat(21845), '€'.repeat(21846)]) {
      const w = new FrameWriter(false);
      w.textFrame(0x81, s);
      const out = joined(w);
      const len = Buffer.byteLength(s);
      const code = out[1] & 0x7f;
      expect(code).to.equal(len < 126 ? len : len < 65536 ? 126 : 127);
      expect(out.length).to.equal(len + (len < 126 ? 2 : len < 65536 ? 4 : 10));
    }
  });

  it('batches many frames into few buffers and keeps their order', () => {
    const w = new FrameWriter(false);
    const expected: unknown[] = [];
    for (let i = 0; i < 1000; i++) {
      w.textFrame(0x81, `message ${i}`);
      expected.push(['message', Buffer.from(`message ${i}`).toString('hex'), true]);
    }
    const big = Buffer.alloc(40000, 1);
    w.frame(0x82, big);
    expected.push(['message', big.toString('hex'), false]);
    w.textFrame(0x81, 'tail');
    expected.push(['message', Buffer.from('tail').toString('hex'), true]);
    const out = w.take()!;
    expect(out.length).to.be.at.most(4);
    expect(parse(Buffer.concat(out), 'client')).to.deep.equal(expected);
  });

  it('keeps each connection\'s bytes separate when writers interleave on the shared slab', () => {
    const a = new FrameWriter(false);
    const b = new FrameWriter(true);
    for (let i = 0; i < 200; i++) {
      a.textFrame(0x81, `a${i}`);
      b.textFrame(0x81, `b${i}`);
      if (i % 37 === 0) a.frame(0x82, Buffer.alloc(20000, 2));
    }
    const ea = parse(joined(a), 'client').filter((e) => e[2] === true);
    const eb = parse(joined(b), 'server');
    expect(ea.map((e) => Buffer.from(e[1] as string, 'hex').toString())).to.deep.equal(Array.from({ length: 200 }, (_, i) => `a${i}`));
    expect(eb.map((e) => Buffer.from(e[1] as string, 'hex').toString())).to.deep.equal(Array.from({ length: 200 }, (_, i) => `b${i}`));
  });

  it('does not let later writes change bytes already taken', () => {
    const w = new FrameWriter(false);
    w.textFrame(0x81, 'first');
    const first = w.take()!;
    const copy = Buffer.concat(first);
    for (let i = 0; i < 5000; i++) w.textFrame(0x81, 'x'.repeat(50));
    w.take();
    expect(Buffer.concat(first)).to.deep.equal(copy);
  });
});
