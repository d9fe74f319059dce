/**
 * Frames out: the outgoing hook (the seed's on_send_frame: inspect, count,
 * transform), `conn.sendFrame` guards on a real connection, and a toy
 * extension registered by the test to prove the `Extension` interface
 * (negotiation parameters, RSV bit, transforms both ways, stacking with
 * permessage-deflate).
 */
import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  Connection,
  Extension,
  ExtensionFactory,
  ExtensionFrame,
  ExtensionParams,
  ExtensionSink,
  Frame,
  UsageError,
  WebSocketError,
} from '../../lib';
import { loopbackScope, openClient, within } from './util';

/**
 * x-xor: XORs every data frame's payload with a one-byte key agreed in the
 * handshake (`key=N`; the server may override the client's offer) and marks
 * transformed frames with RSV2. Decodes asynchronously (setImmediate) to
 * exercise the core's pause path.
 */
class XorExtension implements Extension {
  readonly name = 'x-xor';
  readonly rsv = 0x20;
  params: ExtensionParams = {};
  key = 0;
  disposed = 0;
  encoded = 0;
  decoded = 0;
  constructor(
    private readonly preferred: number,
    private readonly async: boolean,
  ) {}
  offer(): ExtensionParams[] {
    return [{ key: String(this.preferred) }];
  }
  accept(params: ExtensionParams): string | null {
    const k = Number(params.key);
    if (!(Number.isInteger(k) && k > 0 && k < 256)) return 'key must be 1..255';
    this.key = k;
    this.params = params;
    return null;
  }
  acceptOffer(offers: ExtensionParams[]): ExtensionParams | null {
    for (const o of offers) {
      if (o.key === undefined) continue;
      this.key = this.preferred || Number(o.key);
      this.params = { key: String(this.key) };
      return this.params;
    }
    return null;
  }
  private xor(frame: ExtensionFrame): ExtensionFrame {
    const out = Buffer.from(frame.payload);
    for (let i = 0; i < out.length; i++) out[i] ^= this.key;
    return { ...frame, payload: out };
  }
  encode(frame: ExtensionFrame, sink: ExtensionSink): void {
    this.encoded++;
    const out = this.xor(frame);
    if (frame.opcode !== 0) out.rsv |= this.rsv;
    sink.next(out);
  }
  decode(frame: ExtensionFrame, sink: ExtensionSink): void {
    this.decoded++;
    const run = (): void => {
      const out = this.xor(frame);
      out.rsv &= ~this.rsv;
      sink.next(out);
    };
    if (this.async) setImmediate(run);
    else run();
  }
  dispose(): void {
    this.disposed++;
  }
}

function xor(preferred: number, made: XorExtension[], async = true): ExtensionFactory {
  return () => {
    const e = new XorExtension(preferred, async);
    made.push(e);
    return e;
  };
}

describe('frames out and extensions', () => {
  const { subs, start } = loopbackScope();
  async function open(url: string, options: Parameters<typeof openClient>[1] = {}): Promise<Connection> {
    const { conn, sub } = await openClient(url, options);
    subs.push(sub);
    return conn;
  }

  describe('outgoing frame hook', () => {
    it('sees every frame about to be sent, payload unmasked, including control frames', async () => {
      const server = await start();
      const conn = await open(server.url);
      const seen: [number, boolean, string][] = [];
      conn.onSendFrame((f) => {
        seen.push([f.opcode, f.fin, f.opcode === 8 ? f.payload.toString('hex') : f.payload.toString()]);
      });
      const replies = firstValueFrom(conn.messages$.pipe(take(2), toArray()));
      conn.send('hello');
      conn.send('fragmented', { fragmentSize: 4 });
      await within(replies, 5000, 'echoes');
      await within(conn.ping('p'), 5000, 'pong');
      conn.complete();
      await within(conn.closed, 5000, 'close');
      expect(seen).to.deep.equal([
        [1, true, 'hello'],
        [1, false, 'frag'],
        [0, false, 'ment'],
        [0, true, 'ed'],
        [9, true, 'p'],
        [8, true, '03e8'],
      ]);
    });

    it('a hook that throws while the connection handles input (the automatic pong) fails that connection with 1011, not the process', async () => {
      const server = await start(undefined, {
        onSendFrame: (f: Frame) => {
          if (f.opcode === 10) throw new Error('hook cannot pong');
        },
      });
      const accepted = server.nextConnection();
      const conn = await open(server.url);
      const serverConn = await accepted;
      const failure = firstValueFrom(serverConn.messages$).then(
        () => new Error('a message got through'),
        (error: unknown) => error,
      );
      conn.ping('p').subscribe({ error: () => {} });
      const error = (await within(failure, 5000, 'server messages$ error')) as WebSocketError;
      expect(error.code).to.equal('WS_ERR_INTERNAL');
      expect(error.message).to.equal('error while handling input: hook cannot pong');
      expect((await within(conn.closed, 5000, 'client close')).code).to.equal(1011);
      const other = await open(server.url);
      const echo = firstValueFrom(other.messages$);
      other.send('still here');
      expect(await within(echo, 5000, 'echo')).to.equal('still here');
    });

    it('can transform frames, on the server via listen({ onSendFrame }) for every connection', async () => {
      let count = 0;
      const server = await start(undefined, {
        onSendFrame: (f: Frame) => {
          count++;
          if (f.opcode === 1) return { ...f, payload: Buffer.from(f.payload.toString().toUpperCase()) };
        },
      });
      const conn = await open(server.url);
      const reply = firstValueFrom(conn.messages$);
      conn.send('shout');
      expect(await within(reply, 5000, 'echo')).to.equal('SHOUT');
      expect(count).to.equal(1);
    });

    it('removing the hook returns to the fast path and keeps order', async () => {
      const server = await start();
      const conn = await open(server.url);
      let n = 0;
      conn.onSendFrame(() => {
        n++;
      });
      const replies = firstValueFrom(conn.messages$.pipe(take(3), toArray()));
      conn.send('1');
      conn.onSendFrame(null);
      conn.send('2');
      conn.send('3');
      expect(await within(replies, 5000, 'echoes')).to.deep.equal(['1', '2', '3']);
      expect(n).to.equal(1);
    });
  });

  describe('conn.sendFrame guards', () => {
    it('a control frame inside a hand-fragmented message is fine; a second message is refused', async () => {
      const server = await start();
      const conn = await open(server.url);
      const reply = firstValueFrom(conn.messages$);
      conn.sendFrame({ opcode: 1, fin: false, payload: Buffer.from('by ') });
      conn.sendFrame({ opcode: 9, fin: true, payload: Buffer.from('mid') });
      expect(() => conn.sendFrame({ opcode: 2, fin: true, payload: Buffer.from('x') }))
        .to.throw(UsageError)
        .with.property('code', 'WS_ERR_INVALID_FRAME');
      expect(() => conn.sendFrame({ opcode: 9, fin: false })).to.throw(UsageError);
      expect(() => conn.sendFrame({ opcode: 9, fin: true, payload: Buffer.alloc(126) })).to.throw(UsageError);
      expect(() => conn.sendFrame({ opcode: 8, fin: true })).to.throw(UsageError);
      expect(() => conn.sendFrame({ opcode: 3, fin: true })).to.throw(UsageError);
      const undelivered = firstValueFrom(conn.undelivered$);
      expect(conn.send('not now')).to.equal(false);
      expect((await undelivered).data).to.equal('not now');
      conn.sendFrame({ opcode: 0, fin: true, payload: Buffer.from('hand') });
      expect(await within(reply, 5000, 'echo')).to.equal('by hand');
      expect(() => conn.sendFrame({ opcode: 0, fin: true })).to.throw(UsageError);
    });

    it('refuses an RSV bit that a negotiated extension owns, and compresses hand-made fragments', async () => {
      const server = await start(undefined, { perMessageDeflate: { threshold: 0 } });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 0 } });
      expect(() => conn.sendFrame({ opcode: 1, fin: true, rsv1: true, payload: Buffer.from('x') }))
        .to.throw(UsageError)
        .with.property('code', 'WS_ERR_INVALID_FRAME');
      const wire: Frame[] = [];
      conn.onSendFrame((f) => {
        wire.push(f);
      });
      const reply = firstValueFrom(conn.messages$);
      conn.sendFrame({ opcode: 1, fin: false, payload: Buffer.from('a'.repeat(1000)) });
      conn.sendFrame({ opcode: 0, fin: true, payload: Buffer.from('b'.repeat(1000)) });
      expect(await within(reply, 5000, 'echo')).to.equal('a'.repeat(1000) + 'b'.repeat(1000));
      expect(wire.map((f) => [f.opcode, f.fin, f.rsv1])).to.deep.equal([
        [1, false, true],
        [0, true, false],
      ]);
      expect(wire[0].payload.length + wire[1].payload.length).to.be.below(100);
    });
  });

  describe('a toy extension (x-xor) through the Extension interface', () => {
    it('negotiates its parameter, sets its RSV bit, and transforms both ways (async decode)', async () => {
      const serverMade: XorExtension[] = [];
      const clientMade: XorExtension[] = [];
      const server = await start(undefined, { extensions: [xor(0x5a, serverMade)] });
      const accepted = server.nextConnection();
      const conn = await open(server.url, { extensions: [xor(0x11, clientMade)] });
      const serverConn = await accepted;
      expect(conn.extensions).to.deep.equal([{ name: 'x-xor', params: { key: '90' } }]);
      expect(serverConn.extensions).to.deep.equal(conn.extensions);
      expect(clientMade[0].key).to.equal(0x5a);
      const frames = firstValueFrom(conn.frames$);
      const replies = firstValueFrom(conn.messages$.pipe(take(3), toArray()));
      conn.send('secret');
      conn.send(Buffer.from([1, 2, 3]));
      conn.send('x'.repeat(3000), { fragmentSize: 1000 });
      const first = await within(frames, 5000, 'a frame');
      expect(first.rsv2).to.equal(true);
      expect(first.payload.toString('latin1')).to.not.equal('secret');
      expect(Buffer.from(first.payload.map((b) => b ^ 0x5a)).toString()).to.equal('secret');
      const got = await within(replies, 5000, 'echoes');
      expect(got[0]).to.equal('secret');
      expect(got[1]).to.deep.equal(Buffer.from([1, 2, 3]));
      expect(got[2]).to.equal('x'.repeat(3000));
      // send() hands whole messages to extensions and fragments their output;
      // the peer decodes frame by frame.
      expect(clientMade[0].encoded).to.equal(3);
      expect(serverMade[0].decoded).to.equal(5);
      conn.complete();
      await within(conn.closed, 5000, 'close');
      await within(serverConn.closed, 5000, 'server close');
      expect(clientMade[0].disposed).to.be.at.least(1);
      expect(serverMade[0].disposed).to.be.at.least(1);
    });

    it('an extension whose decode throws fails that connection with 1011, and the server goes on', async () => {
      class Broken extends XorExtension {
        override decode(): void {
          throw new TypeError('bug in x-xor decode');
        }
      }
      const server = await start(undefined, { extensions: [() => new Broken(9, false)] });
      const accepted = server.nextConnection();
      const conn = await open(server.url, { extensions: [xor(9, [], false)] });
      const serverConn = await accepted;
      const failure = firstValueFrom(serverConn.messages$).then(
        () => new Error('a message got through'),
        (error: unknown) => error,
      );
      conn.send('boom');
      const error = (await within(failure, 5000, 'server messages$ error')) as WebSocketError;
      expect(error).to.be.instanceOf(WebSocketError);
      expect(error.closeCode).to.equal(1011);
      expect(error.code).to.equal('WS_ERR_INTERNAL');
      expect(error.message).to.equal("extension x-xor threw in decode: bug in x-xor decode");
      expect(error.cause).to.be.instanceOf(TypeError);
      const info = await within(conn.closed, 5000, 'client close');
      expect(info.code).to.equal(1011);
      // The process and the server are fine: a new connection (without the extension) echoes.
      const other = await open(server.url);
      const echo = firstValueFrom(other.messages$);
      other.send('still here');
      expect(await within(echo, 5000, 'echo')).to.equal('still here');
    });

    it('an extension whose encode throws fails that connection with 1011 and reports the message as not delivered', async () => {
      class Broken extends XorExtension {
        override encode(): void {
          throw new RangeError('bug in x-xor encode');
        }
      }
      const server = await start(undefined, { extensions: [xor(9, [], false)] });
      const conn = await open(server.url, { extensions: [() => new Broken(9, false)] });
      const undelivered = firstValueFrom(conn.undelivered$);
      const failure = firstValueFrom(conn.messages$).then(
        () => new Error('a message got through'),
        (error: unknown) => error,
      );
      conn.send('never encoded');
      const error = (await within(failure, 5000, 'client messages$ error')) as WebSocketError;
      expect(error.code).to.equal('WS_ERR_INTERNAL');
      expect(error.closeCode).to.equal(1011);
      expect(error.message).to.equal('extension x-xor threw in encode: bug in x-xor encode');
      expect((await within(undelivered, 5000, 'undelivered')).data).to.equal('never encoded');
      const info = await within(conn.closed, 5000, 'client close');
      expect(info.sentCode).to.equal(1011);
    });

    it('stacks with permessage-deflate in the response order', async () => {
      const server = await start(undefined, { perMessageDeflate: { threshold: 0 }, extensions: [xor(7, [], false)] });
      const conn = await open(server.url, { perMessageDeflate: { threshold: 0 }, extensions: [xor(7, [], true)] });
      expect(conn.extensions.map((e) => e.name)).to.deep.equal(['permessage-deflate', 'x-xor']);
      const wire: Frame[] = [];
      conn.onSendFrame((f) => {
        wire.push(f);
      });
      const text = 'stacked '.repeat(500);
      const reply = firstValueFrom(conn.messages$);
      conn.send(text);
      expect(await within(reply, 5000, 'echo')).to.equal(text);
      expect(wire[0].rsv1 && wire[0].rsv2).to.equal(true);
      expect(wire[0].payload.length).to.be.below(200);
    });

    it('a server without the extension declines it; a client fails a response naming one it did not offer', async () => {
      let server = await start();
      const conn = await open(server.url, { extensions: [xor(3, [])] });
      expect(conn.extensions).to.deep.equal([]);
      const reply = firstValueFrom(conn.messages$);
      conn.send('plain');
      expect(await within(reply, 5000, 'echo')).to.equal('plain');
      server.stop();
      // The server offers a key the client refuses.
      server = await start(undefined, { extensions: [xor(0, [])] });
      const bad = await openClient(server.url, {
        extensions: [
          () =>
            Object.assign(new XorExtension(0, false), {
              offer: () => [{ key: '300' }],
            }),
        ],
      }).then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(bad?.code).to.equal('WS_ERR_HANDSHAKE_EXTENSION');
      expect(bad?.message).to.match(/key must be 1\.\.255/);
    });
  });
});
