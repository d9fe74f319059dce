import { expect } from 'chai';
import { FrameParser, RESERVE_LIMIT } from '../../lib/protocol/frame-parser';
import { collect, MessageCollector, ParserRecorder, ParserEvent } from './recorder';
import { splitAt } from '../fuzz/bytes';
import { allocations, clientFrame, closePayload, frame, fresh, randomSplit, rng, splits } from '../helpers';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const txt = (s: string) => Buffer.from(s).toString('hex');

function run(pieces: Buffer[], role: 'client' | 'server' = 'client', maxPayload = 1 << 20, frames = false): ParserEvent[] {
  const rec = new ParserRecorder();
  const parser = new FrameParser(rec, { role, maxPayload });
  parser.emitFrames = frames;
  for (const p of fresh(pieces)) parser.receive(p);
  return rec.events;
}

/** Parses `bytes` whole, split at every offset, byte by byte and at seeded random points; all must agree. */
function parseAllWays(bytes: Buffer, role: 'client' | 'server' = 'client', maxPayload = 1 << 20, frames = false): ParserEvent[] {
  const expected = run([bytes], role, maxPayload, frames);
  for (const pieces of splits(bytes)) {
    expect(run(pieces, role, maxPayload, frames), `split into ${pieces.map((p) => p.length).join('+')}`).to.deep.equal(expected);
  }
  for (let seed = 1; seed <= 20; seed++) {
    expect(run(randomSplit(bytes, seed), role, maxPayload, frames), `random split seed ${seed}`).to.deep.equal(expected);
  }
  return expected;
}

describe('protocol/frame-parser', () => {
  describe('RFC 6455 §5.7 examples, split at every byte', () => {
    it('a single-frame unmasked text message', () => {
      expect(parseAllWays(hex('81 05 48 65 6c 6c 6f'))).to.deep.equal([['message', txt('Hello'), true]]);
    });

    it('a single-frame masked text message (server role)', () => {
      expect(parseAllWays(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), 'server')).to.deep.equal([['message', txt('Hello'), true]]);
    });

    it('a fragmented unmasked text message', () => {
      expect(parseAllWays(hex('01 03 48 65 6c 80 02 6c 6f'))).to.deep.equal([['message', txt('Hello'), true]]);
    });

    it('an unmasked ping and a masked pong', () => {
      expect(parseAllWays(hex('89 05 48 65 6c 6c 6f'))).to.deep.equal([['control', 0x9, txt('Hello')]]);
      expect(parseAllWays(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), 'server')).to.deep.equal([['control', 0xa, txt('Hello')]]);
    });

    it('256 bytes in one binary frame (16-bit length) and 64 KiB (64-bit length)', () => {
      const b256 = Buffer.alloc(256, 0xab);
      expect(parseAllWays(Buffer.concat([hex('82 7e 01 00'), b256]))).to.deep.equal([['message', b256.toString('hex'), false]]);
      const b64k = Buffer.alloc(65536, 0x5a);
      // A 64 KiB frame split at every offset is slow; whole, byte-wise and random splits.
      const bytes = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), b64k]);
      const expected = [['message', b64k.toString('hex'), false]];
      expect(run([bytes])).to.deep.equal(expected);
      expect(run(randomSplit(bytes, 7, 3000))).to.deep.equal(expected);
      expect(run([bytes.subarray(0, 5), bytes.subarray(5, 11), bytes.subarray(11)])).to.deep.equal(expected);
    });
  });

  describe('lengths', () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536]) {
      it(`${n}-byte masked binary and text frames`, () => {
        const payload = Buffer.alloc(n, 0x41);
        const bytes = Buffer.concat([clientFrame(2, payload), clientFrame(1, payload)]);
        const expected = [
          ['message', payload.toString('hex'), false],
          ['message', payload.toString('hex'), true],
        ];
        if (n <= 300) expect(parseAllWays(bytes, 'server')).to.deep.equal(expected);
        else {
          expect(run([bytes], 'server')).to.deep.equal(expected);
          for (let seed = 1; seed <= 5; seed++) expect(run(randomSplit(bytes, seed, 5000), 'server')).to.deep.equal(expected);
        }
      });
    }

    it('a 70,000-byte masked frame of random bytes, cut into a few large pieces anywhere (straddling pieces of 1 KiB and more go through the SIMD loop at every key phase)', () => {
      const r = rng(70_000);
      const payload = Buffer.alloc(70_000);
      for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(r() * 256);
      const text = Buffer.from(payload.toString('base64').slice(0, 70_000));
      const key = Buffer.from([0x9b, 0x01, 0xc7, 0x5e]);
      const bytes = Buffer.concat([clientFrame(2, payload, { mask: key }), clientFrame(1, text, { mask: key })]);
      const expected = [
        ['message', payload.toString('hex'), false],
        ['message', text.toString('hex'), true],
      ];
      const head = 14; // 2 + 8-byte length + 4-byte key
      const cuts: number[][] = [];
      // Around the first payload byte, the 16 KiB blocks of the SIMD loop and the second frame.
      for (const base of [head, head + 16 * 1024, head + 32 * 1024, 70_000 + head, 70_000 + 2 * head + 1024]) {
        for (let d = -3; d <= 4; d++) cuts.push([base + d]);
      }
      for (let i = 0; i < 40; i++) {
        const n = 1 + Math.floor(r() * 3);
        cuts.push(Array.from({ length: n }, () => 1 + Math.floor(r() * (bytes.length - 1))));
      }
      for (const at of cuts) {
        expect(run(splitAt(bytes, at), 'server'), `cut at ${at.join(', ')}`).to.deep.equal(expected);
      }
    });

    it('rejects a 64-bit length with the top bit set (1002)', () => {
      expect(parseAllWays(hex('82 7f 80 00 00 00 00 00 00 01'))).to.deep.equal([['error', 1002, 'WS_ERR_INVALID_LENGTH']]);
    });
  });

  describe('many frames in one chunk', () => {
    it('delivers each in order, with pings between fragments', () => {
      const bytes = Buffer.concat([
        clientFrame(1, 'a'),
        clientFrame(1, 'frag', { fin: false }),
        clientFrame(9, 'p'),
        clientFrame(0, 'ment', { fin: false }),
        clientFrame(0, 'ed'),
        clientFrame(2, Buffer.from([1, 2, 3])),
        clientFrame(10, ''),
      ]);
      expect(parseAllWays(bytes, 'server')).to.deep.equal([
        ['message', txt('a'), true],
        ['control', 9, txt('p')],
        ['message', txt('fragmented'), true],
        ['message', '010203', false],
        ['control', 10, ''],
      ]);
    });

    it('reports every frame when frames are requested', () => {
      const bytes = Buffer.concat([clientFrame(1, 'ab', { fin: false }), clientFrame(9, ''), clientFrame(0, 'c')]);
      expect(parseAllWays(bytes, 'server', 1 << 20, true)).to.deep.equal([
        ['frame', 1, false, txt('ab')],
        ['frame', 9, true, ''],
        ['control', 9, ''],
        ['frame', 0, true, txt('c')],
        ['message', txt('abc'), true],
      ]);
    });
  });

  describe('protocol violations close with the right code', () => {
    const cases: [string, Buffer, 'client' | 'server', number, string][] = [
      ['an unmasked frame to a server', frame(1, 'x'), 'server', 1002, 'WS_ERR_EXPECTED_MASK'],
      ['a masked frame to a client', clientFrame(1, 'x'), 'client', 1002, 'WS_ERR_UNEXPECTED_MASK'],
      ['RSV1 with no extension', frame(1, 'x', { rsv: 4 }), 'client', 1002, 'WS_ERR_UNEXPECTED_RSV'],
      ['RSV2 with no extension', frame(2, 'x', { rsv: 2 }), 'client', 1002, 'WS_ERR_UNEXPECTED_RSV'],
      ['RSV3 with no extension', frame(1, 'x', { rsv: 1 }), 'client', 1002, 'WS_ERR_UNEXPECTED_RSV'],
      ['RSV on a ping', frame(9, '', { rsv: 4 }), 'client', 1002, 'WS_ERR_UNEXPECTED_RSV'],
      ['reserved data opcode 3', frame(3, 'x'), 'client', 1002, 'WS_ERR_INVALID_OPCODE'],
      ['reserved data opcode 7', frame(7, 'x'), 'client', 1002, 'WS_ERR_INVALID_OPCODE'],
      ['reserved control opcode 11', frame(11, ''), 'client', 1002, 'WS_ERR_INVALID_OPCODE'],
      ['reserved control opcode 15', frame(15, ''), 'client', 1002, 'WS_ERR_INVALID_OPCODE'],
      ['a 126-byte ping', frame(9, Buffer.alloc(126)), 'client', 1002, 'WS_ERR_CONTROL_TOO_LONG'],
      ['a fragmented ping', frame(9, 'x', { fin: false }), 'client', 1002, 'WS_ERR_FRAGMENTED_CONTROL'],
      ['a fragmented close', frame(8, '', { fin: false }), 'client', 1002, 'WS_ERR_FRAGMENTED_CONTROL'],
      ['a continuation with no message', frame(0, 'x'), 'client', 1002, 'WS_ERR_UNEXPECTED_CONTINUATION'],
      [
        'a new text frame inside a fragmented message',
        Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]),
        'client',
        1002,
        'WS_ERR_EXPECTED_CONTINUATION',
      ],
      [
        'a new binary frame inside a fragmented message',
        Buffer.concat([frame(2, 'a', { fin: false }), frame(2, 'b', { fin: false })]),
        'client',
        1002,
        'WS_ERR_EXPECTED_CONTINUATION',
      ],
    ];
    for (const [name, bytes, role, code, id] of cases) {
      it(`${name}: ${code} ${id}`, () => {
        const events = parseAllWays(Buffer.concat([bytes, frame(1, 'after')]), role === 'client' ? 'client' : 'server');
        expect(events[events.length - 1]).to.deep.equal(['error', code, id]);
        expect(events.filter((e) => e[0] === 'error')).to.have.length(1);
        expect(events.filter((e) => e[0] === 'message' && e[1] === txt('after'))).to.have.length(0);
      });
    }

    it('discards everything after a failure', () => {
      const rec = new ParserRecorder();
      const parser = new FrameParser(rec, { role: 'client', maxPayload: 100 });
      parser.receive(frame(3, 'x'));
      parser.receive(frame(1, 'ignored'));
      expect(rec.events).to.deep.equal([['error', 1002, 'WS_ERR_INVALID_OPCODE']]);
    });
  });

  describe('maximum message size (1009 before buffering)', () => {
    it('refuses a frame whose header announces too much, before its payload arrives', () => {
      const rec = new ParserRecorder();
      const parser = new FrameParser(rec, { role: 'client', maxPayload: 1000 });
      parser.receive(hex('82 7f 00 00 00 00 40 00 00 00')); // 1 GiB announced, nothing sent
      expect(rec.events).to.deep.equal([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
      expect(parser.bufferedAmount).to.equal(0);
    });

    it('counts every fragment of a message', () => {
      const bytes = Buffer.concat([frame(2, Buffer.alloc(600), { fin: false }), frame(0, Buffer.alloc(600))]);
      expect(parseAllWays(bytes, 'client', 1000)).to.deep.equal([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
    });

    it('accepts a message of exactly the limit', () => {
      const bytes = Buffer.concat([frame(2, Buffer.alloc(60), { fin: false }), frame(0, Buffer.alloc(40))]);
      expect(run([bytes], 'client', 100)).to.deep.equal([['message', Buffer.alloc(100).toString('hex'), false]]);
    });
  });

  describe('frames longer than RESERVE_LIMIT that straddle chunks', () => {
    const R = RESERVE_LIMIT;
    const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

    /** Cuts `bytes` at the given offsets (sorted, inside the buffer). */
    function cutAt(bytes: Buffer, offsets: number[]): Buffer[] {
      const out: Buffer[] = [];
      let from = 0;
      for (const at of offsets) {
        if (at <= from || at >= bytes.length) continue;
        out.push(bytes.subarray(from, at));
        from = at;
      }
      out.push(bytes.subarray(from));
      return out;
    }

    function chunked(bytes: Buffer, size: number): Buffer[] {
      const out: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
      return out;
    }

    // Text of 1-, 2-, 3- and 4-byte characters, so that sequences cross every cut.
    const textOf = (n: number) => {
      const b = Buffer.from('aé€😀'.repeat(Math.ceil(n / 10) + 1)).subarray(0, n);
      let end = n; // end on a character boundary
      while (end > 0 && (b[end - 1] & 0xc0) === 0x80) end--;
      if (end > 0 && b[end - 1] >= 0xc0) end--;
      return Buffer.concat([b.subarray(0, end), Buffer.alloc(n - end, 0x61)]);
    };

    for (const length of [R + 1, 4 * R + 3, 12 * R + 5]) {
      for (const role of ['client', 'server'] as const) {
        it(`assembles a ${length}-byte frame (${role === 'server' ? 'masked' : 'unmasked'}) however it is cut`, () => {
          const binary = Buffer.alloc(length);
          for (let i = 0; i < length; i++) binary[i] = (i * 7 + (i >> 11)) & 0xff;
          const text = textOf(length);
          for (const [opcode, payload] of [[2, binary], [1, text]] as const) {
            const bytes = frame(opcode, payload, { mask: role === 'server' ? MASK : null });
            const head = bytes.length - length;
            const ways: [string, Buffer[]][] = [
              ['whole', [bytes]],
              ['header and one byte, then the rest', cutAt(bytes, [head + 1])],
              ['64 KiB reads', chunked(bytes, 65536)],
              ['one byte, then 64 KiB reads', [bytes.subarray(0, head + 1), ...chunked(bytes.subarray(head + 1), 65536)]],
              ['around each size the buffer grows past', cutAt(bytes, [R - 1, R, R + 1, 4 * R - 1, 4 * R, 4 * R + 1, 16 * R].map((o) => head + o))],
              ['1 KiB pieces', chunked(bytes, 1024)],
            ];
            for (let seed = 1; seed <= 3; seed++) ways.push([`random pieces, seed ${seed}`, randomSplit(bytes, seed, 200_000)]);
            for (const [how, pieces] of ways) {
              const c = collect(pieces, role);
              expect(c.errors, `${how}, opcode ${opcode}`).to.deep.equal([]);
              expect(c.messages.length, `${how}, opcode ${opcode}`).to.equal(1);
              expect(c.messages[0].text).to.equal(opcode === 1);
              expect(c.messages[0].payload.equals(payload), `${how}, opcode ${opcode}: payload differs`).to.equal(true);
            }
          }
        });
      }
    }

    it('a header and one byte of payload reserve RESERVE_LIMIT, not the length the header announces', () => {
      const announced = 48 << 20;
      const bytes = Buffer.concat([frame(2, Buffer.alloc(0), { length: announced }), Buffer.from([1])]);
      const before = process.memoryUsage().arrayBuffers;
      const held: MessageCollector[] = [];
      const parsers: FrameParser[] = [];
      const sizes = allocations(() => {
        for (let i = 0; i < 16; i++) {
          const c = new MessageCollector();
          const parser = new FrameParser(c, { role: 'client', maxPayload: 64 << 20 });
          parser.receive(bytes.subarray(0, bytes.length - 1));
          parser.receive(Buffer.from(bytes.subarray(bytes.length - 1)));
          held.push(c);
          parsers.push(parser);
        }
      });
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(held.every((c) => c.messages.length === 0 && c.errors.length === 0)).to.equal(true);
      // 16 x 48 MiB (768 MiB) when the whole announced length was reserved.
      expect(grown).to.be.below(16 * (R + 65536));
      expect(Math.max(...sizes)).to.equal(R);
      expect(parsers.length).to.equal(16);
    });

    it('holds at most four times what has arrived, however slowly it arrives', () => {
      const length = 5 << 20;
      const bytes = frame(2, Buffer.alloc(length, 0x5a), { mask: MASK });
      const head = bytes.length - length;
      const c = new MessageCollector();
      const parser = new FrameParser(c, { role: 'server', maxPayload: 64 << 20 });
      parser.receive(Buffer.from(bytes.subarray(0, head)));
      let arrived = 0;
      let largest = 0;
      const sizes = allocations((seen) => {
        for (const piece of chunked(bytes.subarray(head), 40_000)) {
          arrived += piece.length;
          const before = seen.length;
          parser.receive(Buffer.from(piece));
          for (const size of seen.slice(before)) {
            largest = Math.max(largest, size);
            expect(size, `after ${arrived} bytes`).to.be.at.most(Math.max(R, 4 * arrived));
          }
        }
      });
      expect(c.errors).to.deep.equal([]);
      expect(c.messages.length).to.equal(1);
      expect(c.messages[0].payload.equals(Buffer.alloc(length, 0x5a))).to.equal(true);
      expect(largest).to.equal(length);
      // R, 4R, 16R (4 MiB), then the frame's own length.
      expect(sizes.filter((s) => s >= R)).to.deep.equal([R, 4 * R, 16 * R, length]);
    });

    it('fails fast on invalid UTF-8 in a long text frame, before the frame is complete', () => {
      const payload = textOf(3 << 20);
      payload[700_000] = 0xff;
      const bytes = frame(1, payload, { mask: MASK });
      const c = new MessageCollector();
      const parser = new FrameParser(c, { role: 'server', maxPayload: 64 << 20 });
      let fed = 0;
      for (const piece of chunked(bytes, 65536)) {
        parser.receive(Buffer.from(piece));
        fed += piece.length;
        if (c.errors.length > 0) break;
      }
      expect(c.errors.map((e) => e.closeCode)).to.deep.equal([1007]);
      expect(fed).to.be.below(800_000);
      expect(c.messages).to.deep.equal([]);
    });

    it('assembles a fragmented message whose frames are each longer than the limit', () => {
      const first = textOf(R + 100);
      const second = textOf(2 * R + 3);
      const bytes = Buffer.concat([
        frame(1, first, { fin: false, mask: MASK }),
        frame(0x9, Buffer.from('ping'), { mask: MASK }),
        frame(0, second, { mask: MASK }),
      ]);
      for (const pieces of [chunked(bytes, 65536), chunked(bytes, 3000), randomSplit(bytes, 9, 100_000)]) {
        const c = collect(pieces, 'server');
        expect(c.errors).to.deep.equal([]);
        expect(c.messages.length).to.equal(1);
        expect(c.messages[0].payload.equals(Buffer.concat([first, second]))).to.equal(true);
      }
    });
  });

  describe('UTF-8 (1007)', () => {
    // Each entry: description, bytes, valid?
    const table: [string, number[], boolean][] = [
      ['ASCII', [0x61, 0x62], true],
      ['2-byte é', [0xc3, 0xa9], true],
      ['3-byte €', [0xe2, 0x82, 0xac], true],
      ['4-byte U+1F600', [0xf0, 0x9f, 0x98, 0x80], true],
      ['U+10FFFF, the last code point', [0xf4, 0x8f, 0xbf, 0xbf], true],
      ['U+FFFF (noncharacter, still valid UTF-8)', [0xef, 0xbf, 0xbf], true],
      ['U+D7FF, just below the surrogates', [0xed, 0x9f, 0xbf], true],
      ['U+E000, just above the surrogates', [0xee, 0x80, 0x80], true],
      ['overlong "/" in 2 bytes', [0xc0, 0xaf], false],
      ['overlong "/" in 3 bytes', [0xe0, 0x80, 0xaf], false],
      ['overlong "/" in 4 bytes', [0xf0, 0x80, 0x80, 0xaf], false],
      ['overlong U+07FF in 3 bytes', [0xe0, 0x9f, 0xbf], false],
      ['overlong U+FFFF in 4 bytes', [0xf0, 0x8f, 0xbf, 0xbf], false],
      ['high surrogate U+D800', [0xed, 0xa0, 0x80], false],
      ['low surrogate U+DFFF', [0xed, 0xbf, 0xbf], false],
      ['surrogate pair encoded as two 3-byte sequences', [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80], false],
      ['above U+10FFFF (U+110000)', [0xf4, 0x90, 0x80, 0x80], false],
      ['5-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80], false],
      ['0xFE', [0xfe], false],
      ['0xFF', [0xff], false],
      ['lone continuation byte', [0x80], false],
      ['truncated 2-byte sequence at the end', [0x61, 0xc3], false],
      ['truncated 3-byte sequence at the end', [0xe2, 0x82], false],
      ['truncated 4-byte sequence at the end', [0xf0, 0x9f, 0x98], false],
      ['a lead byte followed by ASCII', [0xc3, 0x41], false],
    ];

    for (const [name, bytes, valid] of table) {
      it(`${valid ? 'accepts' : 'rejects'} ${name}, whole and fragmented at every byte`, () => {
        const payload = Buffer.from(bytes);
        const single = parseAllWays(frame(1, payload));
        // The same bytes as a message fragmented into one frame per byte.
        const frags: Buffer[] = [];
        for (let i = 0; i < payload.length; i++) {
          frags.push(frame(i === 0 ? 1 : 0, payload.subarray(i, i + 1), { fin: i === payload.length - 1 }));
        }
        const fragmented = parseAllWays(Buffer.concat(frags));
        const expected = valid ? [['message', payload.toString('hex'), true]] : [['error', 1007, 'WS_ERR_INVALID_UTF8']];
        expect(single).to.deep.equal(expected);
        expect(fragmented).to.deep.equal(expected);
      });
    }

    it('accepts a long valid text with multibyte characters split across fragments anywhere', () => {
      const s = 'κόσμε €uro 😀 '.repeat(40);
      const payload = Buffer.from(s);
      for (let cut = 1; cut < payload.length; cut += 7) {
        const bytes = Buffer.concat([frame(1, payload.subarray(0, cut), { fin: false }), frame(0, payload.subarray(cut))]);
        expect(run([bytes])).to.deep.equal([['message', payload.toString('hex'), true]]);
      }
    });

    it('fails fast: an invalid byte in the first fragment fails before the message ends', () => {
      const rec = new ParserRecorder();
      const parser = new FrameParser(rec, { role: 'client', maxPayload: 1 << 20 });
      parser.receive(frame(1, Buffer.from([0x61, 0xed, 0xa0, 0x80]), { fin: false }));
      expect(rec.events).to.deep.equal([['error', 1007, 'WS_ERR_INVALID_UTF8']]);
    });

    it('fails fast inside one frame whose payload is still arriving', () => {
      const rec = new ParserRecorder();
      const parser = new FrameParser(rec, { role: 'client', maxPayload: 1 << 20 });
      const payload = Buffer.concat([Buffer.from('valid text '.repeat(20)), Buffer.from([0xf5]), Buffer.alloc(100, 0x61)]);
      const bytes = frame(1, payload);
      parser.receive(bytes.subarray(0, 150));
      expect(rec.events).to.deep.equal([]);
      parser.receive(bytes.subarray(150, 4 + 221)); // up to just past the 0xF5
      expect(rec.events).to.deep.equal([['error', 1007, 'WS_ERR_INVALID_UTF8']]);
    });

    it('does not check binary messages', () => {
      expect(parseAllWays(frame(2, Buffer.from([0xff, 0xfe])))).to.deep.equal([['message', 'fffe', false]]);
    });

    it('checks close reasons only at the protocol level (parser passes the payload through)', () => {
      expect(parseAllWays(frame(8, closePayload(1000, Buffer.from([0xff]))))).to.deep.equal([
        ['control', 8, closePayload(1000, Buffer.from([0xff])).toString('hex')],
      ]);
    });
  });

  describe('garbage', () => {
    it('never throws on random bytes, whichever role', () => {
      let seed = 12345;
      const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
      for (let i = 0; i < 2000; i++) {
        const bytes = Buffer.alloc(1 + (i % 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = next();
        const events = run([bytes], i % 2 ? 'client' : 'server', 4096);
        expect(events.filter((e) => e[0] === 'error').length).to.be.at.most(1);
      }
    });
  });
});
