/**
 * permessage-deflate's synchronous path (lib/protocol/deflate.ts): small
 * frames are inflated at once and small outgoing frames compressed in a
 * microtask, on the same zlib streams as the thread-pool path. Driven through
 * the sans-I/O core: that the sync path is taken, that it gives the same bytes
 * as the async path, context takeover and order across both paths, the
 * inflate budget (a bomb under the sync input limit), 1009 and 1007 on the
 * sync path, and the fallback when the sync path is off.
 */
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import { WebSocketProtocol } from '../../lib/protocol/connection';
import {
  PerMessageDeflateOptions,
  setSyncZlib,
  SYNC_DEFLATE_MAX,
  SYNC_INFLATE_BUDGET,
  SYNC_INFLATE_MAX,
} from '../../lib/protocol/deflate';
import { clientFrame, frame, rng } from '../helpers';
import { deflateCore, Event, framesUntil, hex, parseFrames, Recorder, type WireFrame } from './deflate-harness';

const TAIL = hex('00 00 ff ff');
const HELLO = hex('c1 07 f2 48 cd c9 c9 07 00'); // RFC 7692 §7.2.3.1
const HELLO_AGAIN = hex('c1 05 f2 00 11 00 00'); // §7.2.3.2
const HELLO_BFINAL = hex('c1 08 f3 48 cd c9 c9 07 00 00'); // §7.2.3.4

const count = (n: number) => (f: WireFrame[]) => f.length >= n;

/** Text from a small vocabulary (compresses well), seeded. */
function textOf(size: number, seed = 1): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'ws-rx', 'deflate', 'frame', '{"id":', '1234}'];
  let s = '';
  let x = seed;
  while (s.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + ' ';
  }
  return s.slice(0, size);
}

/** A persistent compressor as a peer runs it: sync flush per message, tail removed (§7.2.1). */
class PeerDeflater {
  private readonly d = zlib.createDeflateRaw();
  part(data: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): number => chunks.push(c);
      this.d.on('data', onData);
      this.d.write(data);
      this.d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.d.removeListener('data', onData);
        resolve(Buffer.concat(chunks));
      });
    });
  }
  async message(data: Buffer): Promise<Buffer> {
    return (await this.part(data)).subarray(0, -4);
  }
  close(): void {
    this.d.close();
  }
}

/** A persistent inflater as a peer runs it: appends the tail to each message (§7.2.2). */
class PeerInflater {
  private readonly i = zlib.createInflateRaw();
  private failed: ((e: Error) => void) | null = null;
  constructor() {
    this.i.on('error', (e) => this.failed?.(e));
  }
  message(payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): number => chunks.push(c);
      this.failed = reject;
      this.i.on('data', onData);
      this.i.write(Buffer.concat([payload, TAIL]));
      this.i.flush(() => {
        this.i.removeListener('data', onData);
        resolve(Buffer.concat(chunks));
      });
    });
  }
  close(): void {
    this.i.close();
  }
}

/** Seeded random (incompressible) bytes: compressed, still over the sync limits. */
const noise = (n: number, seed: number): Buffer => {
  const next = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
};

describe('permessage-deflate, synchronous path (core)', () => {
  afterEach(() => setSyncZlib(true));

  describe('which path runs', () => {
    it('inflates a small compressed frame at once: the parser never waits', () => {
      const { core, rec } = deflateCore('client');
      core.receive(Buffer.concat([HELLO, HELLO_AGAIN]));
      expect(core.decoding).to.equal(false);
      expect(rec.events).to.deep.equal([
        ['message', 'Hello', true],
        ['message', 'Hello', true],
      ]);
    });

    it('compresses a small message in a microtask, not inside the send call', async () => {
      const { core } = deflateCore('server');
      core.sendText('Hello');
      expect(core.takeOutput()).to.equal(null);
      await Promise.resolve(); // the compression microtask was queued first
      expect(Buffer.concat(core.takeOutput() ?? []).toString('hex')).to.equal(HELLO.toString('hex'));
    });

    it('compresses a burst of small sends, with pings between, in that one microtask and in order', async () => {
      const { core } = deflateCore('server');
      core.sendText('Hello');
      core.ping(Buffer.from('p1'));
      core.sendText('Hello');
      core.sendBinary(Buffer.from('abc'));
      core.ping(Buffer.from('p2'));
      await Promise.resolve();
      const { frames, rest } = parseFrames(Buffer.concat(core.takeOutput() ?? []));
      expect(rest.length).to.equal(0);
      expect(frames.map((f) => f.bytes.toString('hex'))).to.deep.equal([
        HELLO.toString('hex'),
        frame(9, 'p1').toString('hex'),
        HELLO_AGAIN.toString('hex'),
        frames[3].bytes.toString('hex'),
        frame(9, 'p2').toString('hex'),
      ]);
      expect(frames[3].b0).to.equal(0xc2);
    });

    it(`frames over ${SYNC_INFLATE_MAX} bytes (in) and ${SYNC_DEFLATE_MAX} bytes (out) take the thread pool`, async () => {
      const { core, rec } = deflateCore('client');
      const peer = new PeerDeflater();
      const big = noise(SYNC_INFLATE_MAX + 100, 3);
      const payload = await peer.message(big);
      peer.close();
      expect(payload.length).to.be.above(SYNC_INFLATE_MAX);
      core.receive(frame(2, payload, { rsv: 4 }));
      expect(core.decoding).to.equal(true);
      expect(rec.events).to.deep.equal([]);
      expect(await rec.until(1)).to.deep.equal([['message', big.toString('hex'), false]]);

      const { core: server } = deflateCore('server');
      server.sendBinary(noise(SYNC_DEFLATE_MAX + 1, 4));
      await Promise.resolve();
      await Promise.resolve();
      expect(server.takeOutput()).to.equal(null); // still in the thread pool
      const [f] = await framesUntil(server, count(1));
      expect(f.b0).to.equal(0xc2);
    });

    it('with the sync path off (as on a Node without the internals), everything goes through the thread pool', async () => {
      setSyncZlib(false);
      const { core, rec } = deflateCore('client');
      core.receive(Buffer.concat([HELLO, HELLO_AGAIN, HELLO_BFINAL, HELLO]));
      expect(core.decoding).to.equal(true);
      expect(await rec.until(4)).to.deep.equal(Array.from({ length: 4 }, () => ['message', 'Hello', true]));
      const { core: server } = deflateCore('server');
      server.sendText('Hello');
      server.sendText('Hello');
      await Promise.resolve();
      expect(server.takeOutput()).to.equal(null);
      const frames = await framesUntil(server, count(2));
      expect(frames.map((f) => f.bytes.toString('hex'))).to.deep.equal([HELLO.toString('hex'), HELLO_AGAIN.toString('hex')]);
    });
  });

  describe('same bytes as the thread-pool path', () => {
    /** Sends `messages` (fragmented as given) and returns every written frame. */
    async function wire(sync: boolean, options: PerMessageDeflateOptions, response: string): Promise<Buffer[]> {
      setSyncZlib(sync);
      const { core } = deflateCore('server', options, response);
      let n = 0;
      for (const m of MESSAGES) {
        if (Array.isArray(m)) {
          m.forEach((part, i) => {
            expect(core.sendFrame({ opcode: i === 0 ? 1 : 0, fin: i === m.length - 1, payload: Buffer.from(part) })).to.equal(null);
            n++;
          });
        } else {
          core.sendText(m);
          n++;
        }
      }
      const frames = await framesUntil(core, count(n));
      setSyncZlib(true);
      return frames.map((f) => f.bytes);
    }
    // Empty messages (also twice in a row, and an empty last fragment), small
    // and large ones on both sides of SYNC_DEFLATE_MAX, repeats (context).
    const MESSAGES: (string | string[])[] = [
      '',
      '',
      'Hello',
      'Hello',
      textOf(3000, 1),
      textOf(SYNC_DEFLATE_MAX + 5000, 2),
      textOf(3000, 1),
      ['frag', 'mented ', ''],
      ['', 'x'],
      '',
      textOf(SYNC_DEFLATE_MAX, 3),
      [textOf(100, 4), textOf(SYNC_DEFLATE_MAX + 1, 5), textOf(100, 4)],
      'Hello',
    ];
    const configs: [string, PerMessageDeflateOptions, string][] = [
      ['context takeover', {}, ''],
      ['server_no_context_takeover', { serverNoContextTakeover: true }, 'server_no_context_takeover'],
      ['server_max_window_bits=9, level 9', { level: 9 }, 'server_max_window_bits=9'],
    ];
    for (const [name, options, response] of configs) {
      it(`${name}: every frame is byte for byte what the async path writes, and a strict peer inflates it`, async () => {
        const syncFrames = await wire(true, options, response);
        const asyncFrames = await wire(false, options, response);
        expect(syncFrames.map((b) => b.toString('hex'))).to.deep.equal(asyncFrames.map((b) => b.toString('hex')));
        // An independent inflater with one context for the whole connection.
        const peer = new PeerInflater();
        let at = 0;
        try {
          for (const m of MESSAGES) {
            const parts = Array.isArray(m) ? m.length : 1;
            const payload = Buffer.concat(syncFrames.slice(at, at + parts).map((b) => parseFrames(b).frames[0].payload));
            at += parts;
            expect((await peer.message(payload)).toString()).to.equal(Array.isArray(m) ? m.join('') : m);
          }
        } finally {
          peer.close();
        }
      });
    }
  });

  describe('order and context takeover across both paths', () => {
    it('incoming: small (sync) and large (async) messages, fragments of both kinds, pings between, one peer context', async () => {
      const { core, rec } = deflateCore('server');
      const peer = new PeerDeflater();
      const expected: Event[] = [];
      const wire: Buffer[] = [];
      const small = Buffer.from(textOf(2000, 7));
      const large = Buffer.concat([noise(SYNC_INFLATE_MAX + 1000, 8), small]);
      const add = async (data: Buffer, i: number): Promise<void> => {
        wire.push(clientFrame(2, await peer.message(data), { rsv: 4 }));
        wire.push(clientFrame(9, `p${i}`));
        expected.push(['message', data.toString('hex'), false], ['ping', `p${i}`]);
      };
      await add(small, 0);
      await add(large, 1);
      await add(small, 2); // back-reference into the window across the async message
      await add(Buffer.alloc(0), 3);
      await add(large, 4);
      await add(large, 5);
      await add(small, 6);
      // One message in three frames: sync, async, sync, a ping inside it.
      const a = await peer.part(small);
      const b = await peer.part(noise(SYNC_INFLATE_MAX + 10, 9));
      const c = await peer.message(small);
      wire.push(clientFrame(2, a, { rsv: 4, fin: false }), clientFrame(0, b, { fin: false }), clientFrame(9, 'inside'), clientFrame(0, c));
      expected.push(['ping', 'inside'], ['message', Buffer.concat([small, noise(SYNC_INFLATE_MAX + 10, 9), small]).toString('hex'), false]);
      wire.push(clientFrame(1, 'plain'));
      expected.push(['message', 'plain', true]);
      peer.close();
      expect(wire[2].length).to.be.above(SYNC_INFLATE_MAX); // really async
      expect(wire[4].length).to.be.below(200); // really a back-reference (2000 bytes)
      core.receive(Buffer.concat(wire));
      expect(await rec.until(expected.length)).to.deep.equal(expected);
    });

    it('outgoing: small and large messages and pings leave in order; one peer context inflates them all', async () => {
      const { core: server } = deflateCore('server');
      const small = noise(1500, 11).toString('hex'); // nothing like it in `large`: a repeat is all back-references
      const large = textOf(SYNC_DEFLATE_MAX + 2000, 12); // async, and the window still reaches back past it
      const sends: (string | ['ping', string])[] = [small, large, ['ping', 'a'], small, large, large, small, ['ping', 'b'], '', small];
      for (const s of sends) {
        if (typeof s === 'string') server.sendText(s);
        else server.ping(Buffer.from(s[1]));
      }
      server.close(1000);
      const frames = await framesUntil(server, (f) => f.length > 0 && f[f.length - 1].b0 === 0x88);
      expect(frames.length).to.equal(sends.length + 1);
      const peer = new PeerInflater();
      try {
        for (let i = 0; i < sends.length; i++) {
          const s = sends[i];
          if (typeof s === 'string') {
            expect(frames[i].b0, `frame ${i}`).to.equal(0xc1);
            expect((await peer.message(frames[i].payload)).toString()).to.equal(s);
          } else {
            expect(frames[i].b0).to.equal(0x89);
            expect(frames[i].payload.toString()).to.equal(s[1]);
          }
        }
      } finally {
        peer.close();
      }
      // The repeated small message is a back-reference after the async one.
      expect(frames[3].payload.length).to.be.below(frames[0].payload.length / 5);
      // And a ws-rx client core reads the same bytes.
      const { core: client, rec } = deflateCore('client');
      client.receive(Buffer.concat(frames.map((f) => f.bytes)));
      const expected = sends.map((s): Event => (typeof s === 'string' ? ['message', s, true] : ['ping', s[1]]));
      expect((await rec.until(expected.length)).slice(0, expected.length)).to.deep.equal(expected);
    });

    it('outgoing with no context takeover: every message, sync or async, inflates on its own', async () => {
      const { core } = deflateCore('server', { serverNoContextTakeover: true }, 'server_no_context_takeover');
      const messages = [textOf(500, 1), textOf(SYNC_DEFLATE_MAX + 1, 2), textOf(500, 1), '', textOf(500, 1)];
      for (const m of messages) core.sendText(m);
      const frames = await framesUntil(core, count(messages.length));
      frames.forEach((f, i) => {
        const out = zlib.inflateRawSync(Buffer.concat([f.payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        expect(out.toString(), `message ${i}`).to.equal(messages[i]);
      });
      expect(frames[2].payload.equals(frames[0].payload)).to.equal(true);
    });

    it('a BFINAL block on the sync path starts a fresh inflater for the next (async) message', async () => {
      const { core, rec } = deflateCore('client');
      const large = noise(SYNC_INFLATE_MAX + 500, 21);
      const fresh = new PeerDeflater();
      const payload = await fresh.message(large);
      fresh.close();
      core.receive(Buffer.concat([HELLO_BFINAL, frame(2, payload, { rsv: 4 }), HELLO]));
      expect(await rec.until(3)).to.deep.equal([
        ['message', 'Hello', true],
        ['message', large.toString('hex'), false],
        ['message', 'Hello', true],
      ]);
    });
  });

  describe('limits and failures on the sync path', () => {
    /** Zeros compressed (sync flush, tail removed): ~1030:1. */
    function zeros(n: number): Buffer {
      return zlib.deflateRawSync(Buffer.alloc(n), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    }
    // Just under the sync input limit: inflates to about 8 MiB.
    const BOMB = zeros(8 << 20);

    it(`a bomb just under the sync input limit (${SYNC_INFLATE_MAX} B) fails with 1009 at once, memory bounded by the limit`, () => {
      expect(BOMB.length).to.be.at.most(SYNC_INFLATE_MAX).and.above(SYNC_INFLATE_MAX - 1024);
      const maxPayload = 64 * 1024; // under the sync budget: decided synchronously
      const { core, rec } = deflateCore('client', {}, '', maxPayload);
      const before = process.memoryUsage().arrayBuffers;
      core.receive(frame(2, BOMB, { rsv: 4 }));
      expect(rec.events).to.deep.equal([['fail', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(2 * 1024 * 1024);
    });

    it('the same bomb with a limit over the sync budget: the rest goes to the thread pool, then 1009', async () => {
      const maxPayload = 4 * SYNC_INFLATE_BUDGET;
      const { core, rec } = deflateCore('client', {}, '', maxPayload);
      const before = process.memoryUsage().arrayBuffers;
      core.receive(frame(2, BOMB, { rsv: 4 }));
      expect(core.decoding).to.equal(true); // the loop was let go after the budget
      expect(await rec.until(1)).to.deep.equal([['fail', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(8 * 1024 * 1024);
    });

    it('under a large limit it inflates completely (budget, then thread pool), and later messages keep their order and context', async () => {
      const { core, rec } = deflateCore('client');
      core.receive(Buffer.concat([frame(2, BOMB, { rsv: 4 }), frame(9, 'after'), HELLO, HELLO_AGAIN]));
      expect(core.decoding).to.equal(true);
      expect(rec.events).to.deep.equal([]);
      const events = await rec.until(4);
      expect(events[0][0]).to.equal('message');
      expect(events[0][1]).to.equal(Buffer.alloc(8 << 20).toString('hex'));
      expect(events.slice(1)).to.deep.equal([
        ['ping', 'after'],
        ['message', 'Hello', true],
        ['message', 'Hello', true],
      ]);
    });

    it('a read full of small frames that each inflate to a lot: the budget holds for the whole run, the rest goes to the thread pool, in order', async () => {
      const { core, rec } = deflateCore('client');
      const peer = new PeerDeflater();
      const unit = 64 * 1024;
      const frames: Buffer[] = [];
      for (let i = 0; i < 40; i++) frames.push(frame(2, await peer.message(Buffer.alloc(unit, i)), { rsv: 4 }));
      peer.close();
      const wire = Buffer.concat(frames);
      expect(wire.length).to.be.below(SYNC_INFLATE_MAX); // 2.5 MiB of messages in one small read
      core.receive(wire);
      expect(core.decoding).to.equal(true);
      expect(rec.events.length).to.be.at.most(SYNC_INFLATE_BUDGET / unit);
      const events = await rec.until(40);
      expect(events.map((e) => e[1])).to.deep.equal(Array.from({ length: 40 }, (_, i) => Buffer.alloc(unit, i).toString('hex')));
      // A new run has the whole budget again: a small frame is inflated at once.
      const { core: fresh, rec: freshRec } = deflateCore('client');
      fresh.receive(HELLO);
      expect(freshRec.events).to.deep.equal([['message', 'Hello', true]]);
      core.receive(frame(2, zlib.deflateRawSync(Buffer.from('x'), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4), { rsv: 4 }));
      expect(core.decoding).to.equal(false);
    });

    it('the limit counts the frames of a fragmented message across both paths', async () => {
      const { core, rec } = deflateCore('client', {}, '', 100_000);
      const peer = new PeerDeflater();
      const a = await peer.part(Buffer.alloc(60_000, 0x61)); // small: sync
      const b = await peer.part(noise(SYNC_INFLATE_MAX + 100, 5)); // async; 60 000 + 8 292 fits
      const c = await peer.message(Buffer.alloc(60_000, 0x62)); // sync, over the limit
      peer.close();
      core.receive(Buffer.concat([frame(2, a, { rsv: 4, fin: false }), frame(0, b, { fin: false }), frame(0, c)]));
      expect(await rec.until(1)).to.deep.equal([['fail', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
    });

    it('corrupt data after valid messages is 1007 at once, and the close frame goes out', async () => {
      const { core, rec } = deflateCore('client');
      core.receive(Buffer.concat([HELLO, HELLO_AGAIN, frame(1, hex('ff ff ff ff 00 11 22'), { rsv: 4 })]));
      expect(rec.events).to.deep.equal([
        ['message', 'Hello', true],
        ['message', 'Hello', true],
        ['fail', 1007, 'WS_ERR_INVALID_COMPRESSED_DATA'],
      ]);
      const [f] = await framesUntil(core, count(1));
      expect(f.b0).to.equal(0x88);
      expect(f.payload.readUInt16BE(0)).to.equal(1007);
      // zlib's 'error' event on the discarded stream comes a tick later and is ignored.
      await new Promise<void>((r) => setImmediate(r));
      expect(rec.events.length).to.equal(3);
    });

    it('corrupt data in the first (sync) fragment of a message is 1007', () => {
      const { core, rec } = deflateCore('server');
      core.receive(Buffer.concat([clientFrame(1, hex('ff 00'), { rsv: 4, fin: false }), clientFrame(0, 'x')]));
      expect(rec.events).to.deep.equal([['fail', 1007, 'WS_ERR_INVALID_COMPRESSED_DATA']]);
    });

    it('corrupt data after the sync budget (found in the thread pool) is 1007', async () => {
      const { core, rec } = deflateCore('client');
      // 1 MiB of zeros (past the budget), then an invalid block type.
      const bad = Buffer.concat([zeros(1 << 20), hex('ff ff ff')]);
      expect(bad.length).to.be.at.most(SYNC_INFLATE_MAX);
      core.receive(frame(2, bad, { rsv: 4 }));
      expect(core.decoding).to.equal(true);
      expect(await rec.until(1)).to.deep.equal([['fail', 1007, 'WS_ERR_INVALID_COMPRESSED_DATA']]);
    });

    it('random garbage of every small size never throws and ends in a message or 1007', () => {
      for (let n = 1; n <= 64; n++) {
        const { core, rec } = deflateCore('client');
        core.receive(frame(2, crypto.randomBytes(n), { rsv: 4 }));
        expect(rec.events.length, `size ${n}`).to.equal(1);
        const [e] = rec.events;
        if (e[0] === 'fail') expect([e[1], e[2]]).to.deep.equal([1007, 'WS_ERR_INVALID_COMPRESSED_DATA']);
        else expect(e[0]).to.equal('message');
      }
    });

    it('a failure in the same run as small sends still reports them undelivered (compression waits for the microtask)', async () => {
      const { core, rec } = deflateCore('server');
      core.sendText('one');
      core.sendText('two');
      core.receive(clientFrame(9, 'x', { rsv: 4 })); // RSV1 on a ping: 1002
      expect(rec.undelivered).to.deep.equal(['one', 'two']);
      await Promise.resolve();
      const frames = await framesUntil(core, count(1));
      expect(frames.map((f) => f.b0)).to.deep.equal([0x88]);
    });
  });
});
