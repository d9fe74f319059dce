/**
 * permessage-deflate in the sans-I/O core, driven with bytes: the RFC 7692
 * §7.2.3 examples in and out, every chunking, negotiation of all four
 * parameters, and the failure codes (1002 RSV1 misuse, 1007 corrupt data,
 * 1009 an inflated message over the limit).
 */
import { expect } from 'chai';
import * as zlib from 'node:zlib';
import { WebSocketProtocol } from '../../lib/protocol/connection';
import { perMessageDeflate, PerMessageDeflateOptions } from '../../lib/protocol/deflate';
import { acceptClient, clientOffers, negotiateServer } from '../../lib/protocol/extension';
import { parseExtensions, type ExtensionOffer } from '../../lib/protocol/handshake';
import { Limiter } from '../../lib/protocol/limiter';
import { clientFrame, frame, randomSplit, splits } from '../helpers';
import { deflateCore, Event, framesUntil, hex, parseParams, Recorder } from './deflate-harness';

/** Collects the core's output until `n` frames were written; returns the frames' bytes. */
async function outputFrames(core: WebSocketProtocol, n: number): Promise<Buffer[]> {
  const frames = await outputFramesUntil(core, (f) => f.length >= n);
  expect(frames.length, 'frames written').to.equal(n);
  return frames;
}

/** Collects the bytes of written frames until `done(frames)` (bounded: gives up after 10 s). */
async function outputFramesUntil(core: WebSocketProtocol, done: (frames: Buffer[]) => boolean): Promise<Buffer[]> {
  const frames = await framesUntil(core, (f) => done(f.map((x) => x.bytes)));
  return frames.map((x) => x.bytes);
}

// RFC 7692 §7.2.3 examples (server to client: unmasked).
const HELLO = hex('c1 07 f2 48 cd c9 c9 07 00'); // §7.2.3.1
const HELLO_FRAGMENTED = [hex('41 03 f2 48 cd'), hex('80 04 c9 c9 07 00')]; // §7.2.3.1
const HELLO_AGAIN = hex('c1 05 f2 00 11 00 00'); // §7.2.3.2, sharing the window
const HELLO_STORED = hex('c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00'); // §7.2.3.3
const HELLO_BFINAL = hex('c1 08 f3 48 cd c9 c9 07 00 00'); // §7.2.3.4
const HELLO_TWO_BLOCKS = hex('c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00'); // §7.2.3.5

describe('permessage-deflate (core)', () => {
  describe('RFC 7692 §7.2.3 examples, incoming', () => {
    const cases: [string, Buffer, string[]][] = [
      ['§7.2.3.1 a message in one compressed frame', HELLO, ['Hello']],
      ['§7.2.3.1 a compressed message in two frames', Buffer.concat(HELLO_FRAGMENTED), ['Hello']],
      ['§7.2.3.2 two messages sharing the LZ77 window', Buffer.concat([HELLO, HELLO_AGAIN]), ['Hello', 'Hello']],
      ['§7.2.3.3 a stored (uncompressed) DEFLATE block', HELLO_STORED, ['Hello']],
      ['§7.2.3.4 a block with BFINAL set, then a fresh stream', Buffer.concat([HELLO_BFINAL, HELLO]), ['Hello', 'Hello']],
      ['§7.2.3.5 two DEFLATE blocks in one message', HELLO_TWO_BLOCKS, ['Hello']],
    ];
    for (const [name, bytes, messages] of cases) {
      it(`${name}, split at every offset and byte by byte`, async () => {
        for (const pieces of [...splits(bytes), randomSplit(bytes, 7, 3)]) {
          const { core, rec } = deflateCore('client');
          for (const p of pieces) core.receive(Buffer.from(p));
          const events = await rec.until(messages.length);
          expect(events).to.deep.equal(messages.map((m) => ['message', m, true]));
        }
      });
    }
  });

  describe('RFC 7692 §7.2.3 examples, outgoing', () => {
    it('compresses "Hello" as §7.2.3.1, then as §7.2.3.2 with the window shared', async () => {
      const { core } = deflateCore('server');
      core.sendText('Hello');
      core.sendText('Hello');
      const frames = await outputFrames(core, 2);
      expect(frames[0].toString('hex')).to.equal(HELLO.toString('hex'));
      expect(frames[1].toString('hex')).to.equal(HELLO_AGAIN.toString('hex'));
    });

    it('with server_no_context_takeover, every "Hello" is §7.2.3.1 again', async () => {
      const { core } = deflateCore('server', { serverNoContextTakeover: true });
      core.sendText('Hello');
      core.sendText('Hello');
      core.sendText('Hello');
      const frames = await outputFrames(core, 3);
      for (const f of frames) expect(f.toString('hex')).to.equal(HELLO.toString('hex'));
    });

    it('sets RSV1 on the first frame only when fragmenting, and round-trips through a peer core', async () => {
      const { core: server } = deflateCore('server');
      const text = Array.from({ length: 300 }, (_, i) => `fragment ${(i * 7919) % 1000} `).join('');
      server.sendText(text, 100);
      server.ping(Buffer.from('after'));
      const frames = await outputFramesUntil(server, (f) => f.length > 0 && f[f.length - 1][0] === 0x89);
      const wire = Buffer.concat(frames);
      const heads = frames.map((f) => f[0]);
      for (const f of frames) expect(f[1] & 0x7f).to.be.at.most(100);
      expect(heads.length).to.be.greaterThan(2);
      expect(heads[0]).to.equal(0x41); // RSV1 | text, not final
      for (const h of heads.slice(1, -2)) expect(h).to.equal(0x00); // continuation, no RSV1
      expect(heads[heads.length - 2]).to.equal(0x80); // final continuation
      expect(heads[heads.length - 1]).to.equal(0x89); // the ping, after the message
      const { core: client, rec } = deflateCore('client');
      client.receive(wire);
      const events = await rec.until(2);
      expect(events).to.deep.equal([
        ['message', text, true],
        ['ping', 'after'],
      ]);
    });

    it('sends messages below the threshold uncompressed (RSV1 clear)', async () => {
      const { core } = deflateCore('server', { threshold: 10 });
      core.sendText('short');
      core.sendText('long enough to compress');
      const frames = await outputFrames(core, 2);
      expect(frames[0].toString('hex')).to.equal(frame(1, 'short').toString('hex'));
      expect(frames[1][0]).to.equal(0xc1);
    });

    it('masks compressed client frames, and a server core decodes them', async () => {
      const { core: client } = deflateCore('client');
      client.sendBinary(Buffer.alloc(10_000, 0x61));
      const [f] = await outputFrames(client, 1);
      expect(f[0]).to.equal(0xc2);
      expect(f[1] & 0x80).to.equal(0x80);
      expect(f.length).to.be.below(200);
      const { core: server, rec } = deflateCore('server');
      server.receive(f);
      const [e] = await rec.until(1);
      expect(e).to.deep.equal(['message', Buffer.alloc(10_000, 0x61).toString('hex'), false]);
    });

    it('an empty message compresses to an empty payload and back', async () => {
      const { core } = deflateCore('server');
      core.sendText('');
      const [f] = await outputFrames(core, 1);
      expect(f[0]).to.equal(0xc1);
      const { core: client, rec } = deflateCore('client');
      client.receive(f);
      expect(await rec.until(1)).to.deep.equal([['message', '', true]]);
    });
  });

  describe('ordering', () => {
    it('holds control frames that follow a compressed message until it is delivered', async () => {
      const { core, rec } = deflateCore('server');
      core.receive(
        Buffer.concat([
          clientFrame(1, zlib.deflateRawSync(Buffer.from('first'), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4), { rsv: 4 }),
          clientFrame(9, 'p1'),
          clientFrame(1, 'plain'),
          clientFrame(9, 'p2'),
        ]),
      );
      expect(await rec.until(4)).to.deep.equal([
        ['message', 'first', true],
        ['ping', 'p1'],
        ['message', 'plain', true],
        ['ping', 'p2'],
      ]);
    });

    it('writes a close frame after messages still being compressed', async () => {
      const { core } = deflateCore('server');
      core.sendBinary(Buffer.alloc(200_000, 1));
      core.close(1000, 'bye');
      expect(core.sendText('late')).to.equal(false);
      const frames = await outputFrames(core, 2);
      expect(frames[0][0]).to.equal(0xc2);
      expect(frames[1][0]).to.equal(0x88);
    });

    it('on failure, drops queued messages (reported undelivered) and sends the close frame at once', async () => {
      const rec = new Recorder();
      const dropped: (string | Buffer)[] = [];
      rec.onUndelivered = (d: string | Buffer): void => {
        dropped.push(d);
      };
      const ext = perMessageDeflate({ threshold: 0 })({ role: 'server', maxPayload: 1 << 20 });
      ext.acceptOffer([{}]);
      const core = new WebSocketProtocol(rec, { role: 'server', maxPayload: 1 << 20, extensions: [ext] });
      core.sendText('one');
      core.sendText('two');
      core.receive(clientFrame(9, 'x', { rsv: 4 })); // RSV1 on a ping: 1002
      expect(rec.events).to.deep.equal([['fail', 1002, 'WS_ERR_UNEXPECTED_RSV']]);
      expect(dropped).to.deep.equal(['one', 'two']);
      const frames = await outputFrames(core, 1);
      expect(frames[0][0]).to.equal(0x88);
      expect(frames[0].readUInt16BE(2)).to.equal(1002);
    });
  });

  describe('failures', () => {
    it('RSV1 on a control frame is 1002', () => {
      const { core, rec } = deflateCore('server');
      core.receive(clientFrame(9, '', { rsv: 4 }));
      expect(rec.events).to.deep.equal([['fail', 1002, 'WS_ERR_UNEXPECTED_RSV']]);
    });

    it('RSV1 on a continuation frame is 1002', () => {
      const { core, rec } = deflateCore('server');
      core.receive(Buffer.concat([clientFrame(1, 'a', { fin: false }), clientFrame(0, 'b', { rsv: 4 })]));
      expect(rec.events).to.deep.equal([['fail', 1002, 'WS_ERR_UNEXPECTED_RSV']]);
    });

    it('RSV1 without permessage-deflate negotiated is 1002', () => {
      const rec = new Recorder();
      const core = new WebSocketProtocol(rec, { role: 'client', maxPayload: 1024 });
      core.receive(HELLO);
      expect(rec.events).to.deep.equal([['fail', 1002, 'WS_ERR_UNEXPECTED_RSV']]);
    });

    it('corrupt compressed data is 1007', async () => {
      const { core, rec } = deflateCore('client');
      core.receive(frame(1, hex('ff ff ff ff 00 11 22'), { rsv: 4 }));
      expect(await rec.until(1)).to.deep.equal([['fail', 1007, 'WS_ERR_INVALID_COMPRESSED_DATA']]);
      const [f] = await outputFrames(core, 1);
      expect(f[0]).to.equal(0x88);
      expect((f[2] ^ f[6]) * 256 + (f[3] ^ f[7])).to.equal(1007); // the client masks its close frame
    });

    it('compressed text that inflates to invalid UTF-8 is 1007', async () => {
      const { core, rec } = deflateCore('client');
      const bad = zlib.deflateRawSync(hex('c3 28'), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
      core.receive(frame(1, bad, { rsv: 4 }));
      expect(await rec.until(1)).to.deep.equal([['fail', 1007, 'WS_ERR_INVALID_UTF8']]);
    });

    it('a message that inflates past maxPayload is 1009, checked while inflating', async () => {
      const maxPayload = 64 * 1024;
      const { core, rec } = deflateCore('client', {}, '', maxPayload);
      // 16 MiB of zeros deflate to ~16 KiB: small on the wire, far over the limit.
      const bomb = zlib.deflateRawSync(Buffer.alloc(16 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
      expect(bomb.length).to.be.below(maxPayload);
      const before = process.memoryUsage().arrayBuffers;
      core.receive(frame(2, bomb, { rsv: 4 }));
      expect(await rec.until(1)).to.deep.equal([['fail', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(8 * 1024 * 1024);
    });

    it('the limit counts every frame of a fragmented compressed message', async () => {
      const { core, rec } = deflateCore('client', {}, '', 1000);
      const d = zlib.createDeflateRaw();
      const part = (data: Buffer): Promise<Buffer> =>
        new Promise((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer): number => chunks.push(c);
          d.on('data', onData);
          d.write(data);
          d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            d.removeListener('data', onData);
            resolve(Buffer.concat(chunks));
          });
        });
      const a = await part(Buffer.alloc(600, 0x61));
      const b = await part(Buffer.alloc(600, 0x62));
      d.close();
      core.receive(Buffer.concat([frame(1, a, { rsv: 4, fin: false }), frame(0, b.subarray(0, -4))]));
      expect(await rec.until(1)).to.deep.equal([['fail', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
    });
  });

  describe('negotiation', () => {
    const server = (options: PerMessageDeflateOptions, header: string): string | null => {
      const offers = parseExtensions(header) as ExtensionOffer[];
      const r = negotiateServer([perMessageDeflate(options)], offers, { role: 'server', maxPayload: 1024 });
      r.active.forEach((e) => e.dispose());
      return r.agreed.length === 0 ? null : fmt(r.agreed[0].params);
    };
    const fmt = (p: Record<string, string | true>): string =>
      Object.keys(p)
        .map((k) => (p[k] === true ? k : `${k}=${p[k]}`))
        .join('; ');

    it('accepts a bare offer with no parameters', () => {
      expect(server({}, 'permessage-deflate')).to.equal('');
    });
    it('echoes server_no_context_takeover and honours it', () => {
      expect(server({}, 'permessage-deflate; server_no_context_takeover')).to.equal('server_no_context_takeover');
    });
    it('declines server_no_context_takeover when configured not to reset', () => {
      expect(server({ serverNoContextTakeover: false }, 'permessage-deflate; server_no_context_takeover')).to.equal(null);
    });
    it('asks for client_no_context_takeover even unoffered (§7.1.1.2)', () => {
      expect(server({ clientNoContextTakeover: true }, 'permessage-deflate')).to.equal('client_no_context_takeover');
    });
    it('answers server_max_window_bits with the same or a smaller value', () => {
      expect(server({}, 'permessage-deflate; server_max_window_bits=10')).to.equal('server_max_window_bits=10');
      expect(server({ serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=12')).to.equal('server_max_window_bits=9');
      expect(server({ serverMaxWindowBits: 12 }, 'permessage-deflate; server_max_window_bits=10')).to.equal('server_max_window_bits=10');
      expect(server({ serverMaxWindowBits: 11 }, 'permessage-deflate')).to.equal('server_max_window_bits=11');
    });
    it('declines server_max_window_bits when configured not to limit its window', () => {
      expect(server({ serverMaxWindowBits: false }, 'permessage-deflate; server_max_window_bits=10')).to.equal(null);
    });
    it('limits the client window only when the client offered client_max_window_bits (§7.1.2.2)', () => {
      expect(server({ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits')).to.equal('client_max_window_bits=10');
      expect(server({ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=9')).to.equal('client_max_window_bits=9');
      expect(server({ clientMaxWindowBits: 10 }, 'permessage-deflate')).to.equal(null);
      expect(server({}, 'permessage-deflate; client_max_window_bits')).to.equal('');
      expect(server({}, 'permessage-deflate; client_max_window_bits=12')).to.equal('client_max_window_bits=12');
    });
    it('declines invalid offers and takes the first one it can honour (§5.1, §7.1)', () => {
      const invalid = [
        'permessage-deflate; foo',
        'permessage-deflate; server_max_window_bits',
        'permessage-deflate; server_max_window_bits=7',
        'permessage-deflate; server_max_window_bits=16',
        'permessage-deflate; client_max_window_bits=08',
        'permessage-deflate; server_no_context_takeover=1',
        'permessage-deflate; client_no_context_takeover=yes',
      ];
      for (const h of invalid) expect(server({}, h), h).to.equal(null);
      expect(server({}, 'permessage-deflate; foo, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover')).to.equal(
        'client_no_context_takeover',
      );
      expect(
        server({ clientMaxWindowBits: 9 }, 'permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits'),
      ).to.equal('client_max_window_bits=9');
    });
    it('ignores other extensions and keeps its own order', () => {
      const offers = parseExtensions('x-unknown; a=1, permessage-deflate') as ExtensionOffer[];
      const r = negotiateServer([perMessageDeflate()], offers, { role: 'server', maxPayload: 1 });
      expect(r.agreed).to.deep.equal([{ name: 'permessage-deflate', params: {} }]);
      r.active.forEach((e) => e.dispose());
    });

    const client = (options: PerMessageDeflateOptions | PerMessageDeflateOptions[], response: string): string | null => {
      const factory = Array.isArray(options)
        ? require('../../lib/protocol/deflate').perMessageDeflateOffers(options)
        : perMessageDeflate(options);
      const ext = factory({ role: 'client', maxPayload: 1 });
      const r = acceptClient([ext], parseExtensions(response) as ExtensionOffer[]);
      ext.dispose();
      return r instanceof Error ? r.message : null;
    };

    it('offers client_max_window_bits by default and every configured parameter', () => {
      const offer = (o: PerMessageDeflateOptions): ExtensionOffer[] => clientOffers([perMessageDeflate(o)({ role: 'client', maxPayload: 1 })]);
      expect(offer({})).to.deep.equal([{ name: 'permessage-deflate', params: { client_max_window_bits: true } }]);
      expect(
        offer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 }),
      ).to.deep.equal([
        {
          name: 'permessage-deflate',
          params: {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: '10',
            client_max_window_bits: '11',
          },
        },
      ]);
      expect(offer({ clientMaxWindowBits: false })).to.deep.equal([{ name: 'permessage-deflate', params: {} }]);
    });
    it('accepts valid responses', () => {
      expect(client({}, 'permessage-deflate')).to.equal(null);
      expect(client({}, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover')).to.equal(null);
      expect(client({}, 'permessage-deflate; client_max_window_bits=9; server_max_window_bits=8')).to.equal(null);
      expect(client({ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=9')).to.equal(null);
    });
    it('fails a response that accepts something not offered or breaks §7.1', () => {
      const bad: [PerMessageDeflateOptions, string, RegExp][] = [
        [{ clientMaxWindowBits: false }, 'permessage-deflate; client_max_window_bits=10', /not offered/],
        [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=11', /larger than offered/],
        [{ serverMaxWindowBits: 10 }, 'permessage-deflate', /expected server_max_window_bits/],
        [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=12', /larger than offered/],
        [{ serverNoContextTakeover: true }, 'permessage-deflate', /expected server_no_context_takeover/],
        [{}, 'permessage-deflate; client_max_window_bits', /needs a value/],
        [{}, 'permessage-deflate; mystery=1', /unknown parameter/],
      ];
      for (const [o, h, re] of bad) expect(client(o, h), h).to.match(re);
    });
    it('with several offers, accepts a response that matches any of them', () => {
      const offers: PerMessageDeflateOptions[] = [{ serverMaxWindowBits: 10 }, {}];
      expect(client(offers, 'permessage-deflate')).to.equal(null);
      expect(
        client([{ serverMaxWindowBits: 10, clientMaxWindowBits: false }, {}], 'permessage-deflate; client_max_window_bits=9'),
      ).to.equal(null);
      expect(client([{ serverMaxWindowBits: 10 }, { clientMaxWindowBits: false }], 'permessage-deflate; client_max_window_bits=9')).to.match(
        /expected server_max_window_bits|not offered/,
      );
      expect(client([{ serverNoContextTakeover: true }, { serverMaxWindowBits: 9 }], 'permessage-deflate')).to.match(/expected/);
    });
    it('rejects option values outside 8..15 at configuration time', () => {
      expect(() => perMessageDeflate({ serverMaxWindowBits: 16 })).to.throw(RangeError);
      expect(() => perMessageDeflate({ clientMaxWindowBits: 7 })).to.throw(RangeError);
    });

    it('every window size round-trips (8 is raised to 9 by zlib, still within a 256-byte window)', async () => {
      for (let bits = 8; bits <= 15; bits++) {
        const { core: server } = deflateCore('server', {}, `server_max_window_bits=${bits}`);
        const text = Array.from({ length: 400 }, (_, i) => `line ${i % 37} of window ${bits}\n`).join('');
        server.sendText(text);
        const [f] = await outputFrames(server, 1);
        const { core: client, rec } = deflateCore('client', { serverMaxWindowBits: bits }, `server_max_window_bits=${bits}`);
        client.receive(f);
        expect(await rec.until(1)).to.deep.equal([['message', text, true]]);
        // A window-limited inflater (the strictest peer) decodes it too.
        const inflated = zlib.inflateRawSync(Buffer.concat([f.subarray(4), hex('00 00 ff ff')]), {
          windowBits: Math.max(bits, 9),
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
        expect(inflated.toString()).to.equal(text);
      }
    });
  });

  describe('Limiter', () => {
    it('runs at most `concurrency` jobs at once, in FIFO order', () => {
      const limiter = new Limiter(2);
      const started: number[] = [];
      const dones: (() => void)[] = [];
      for (let i = 0; i < 5; i++) {
        limiter.add((done) => {
          started.push(i);
          dones.push(done);
        });
      }
      expect(started).to.deep.equal([0, 1]);
      expect(limiter.queued).to.equal(3);
      dones[0]();
      dones[0](); // a second call frees nothing
      expect(started).to.deep.equal([0, 1, 2]);
      dones[1]();
      dones[2]();
      dones[3]();
      expect(started).to.deep.equal([0, 1, 2, 3, 4]);
      dones[4]();
      expect(limiter.pending).to.equal(0);
    });
  });
});
