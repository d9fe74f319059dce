import { expect } from 'chai';
import { CloseInfo, ProtocolHandler, WebSocketProtocol, truncateReason } from '../../lib/protocol/connection';
import { FrameParser, Frame } from '../../lib/protocol/frame-parser';
import type { WebSocketError } from '../../lib/protocol/errors';
import { ParserRecorder } from './recorder';
import { clientFrame, closePayload, frame } from '../helpers';

/** Drives a WebSocketProtocol and decodes what it writes. */
class Harness implements ProtocolHandler {
  readonly core: WebSocketProtocol;
  log: unknown[] = [];
  transportClosed = 0;
  constructor(role: 'client' | 'server', maxPayload = 1 << 20) {
    this.core = new WebSocketProtocol(this, { role, maxPayload });
  }
  /** Frames the core wrote, parsed as the peer would. */
  written(): unknown[] {
    const out = this.core.takeOutput();
    if (!out) return [];
    const rec = new ParserRecorder();
    const p = new FrameParser(rec, { role: this.core.role === 'server' ? 'client' : 'server', maxPayload: 1 << 26 });
    p.emitFrames = true;
    p.receive(Buffer.concat(out));
    return rec.events.filter((e) => e[0] === 'frame').map((e) => [e[1], Buffer.from(e[3] as string, 'hex')]);
  }
  onMessage(data: Buffer, text: boolean) {
    this.log.push(['message', text ? data.toString() : data.toString('hex')]);
  }
  onFrame(f: Frame) {
    this.log.push(['frame', f.opcode]);
  }
  onPing(p: Buffer) {
    this.log.push(['ping', p.toString()]);
  }
  onPong(p: Buffer) {
    this.log.push(['pong', p.toString()]);
  }
  onCloseFrame(code: number, reason: string) {
    this.log.push(['close', code, reason]);
  }
  onFail(e: WebSocketError) {
    this.log.push(['fail', e.closeCode, e.code]);
  }
  onOutput() {}
  onCloseTransport() {
    this.transportClosed++;
  }
}

const closeFrame = (code: number, reason = '') => [0x8, closePayload(code, reason)];

describe('protocol/connection', () => {
  describe('close codes (RFC 6455 §7.4)', () => {
    const allowed = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    const refused = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

    for (const code of allowed) {
      it(`echoes an allowed code ${code} and closes cleanly`, () => {
        const h = new Harness('server');
        h.core.receive(clientFrame(8, closePayload(code, 'bye')));
        expect(h.log).to.deep.equal([['close', code, 'bye']]);
        expect(h.written()).to.deep.equal([closeFrame(code)]);
        expect(h.transportClosed, 'the server closes TCP first').to.equal(1);
        const info = h.core.receiveEof();
        expect(info).to.deep.include({ code, reason: 'bye', wasClean: true, sentCode: code });
      });
    }

    for (const code of refused) {
      it(`fails the connection with 1002 on code ${code}`, () => {
        const h = new Harness('server');
        h.core.receive(clientFrame(8, closePayload(code)));
        expect(h.log).to.deep.equal([['fail', 1002, 'WS_ERR_INVALID_CLOSE_CODE']]);
        const written = h.written() as [number, Buffer][];
        expect(written).to.have.length(1);
        expect(written[0][1].readUInt16BE(0)).to.equal(1002);
        expect(h.transportClosed).to.equal(1);
        const info: CloseInfo = h.core.receiveEof();
        expect(info.wasClean).to.equal(false);
        expect(info.error?.closeCode).to.equal(1002);
      });
    }

    it('fails with 1002 on a 1-byte close payload', () => {
      const h = new Harness('client');
      h.core.receive(frame(8, Buffer.from([0x03])));
      expect(h.log).to.deep.equal([['fail', 1002, 'WS_ERR_INVALID_CLOSE']]);
    });

    it('fails with 1007 on a close reason that is not UTF-8', () => {
      const h = new Harness('client');
      h.core.receive(frame(8, closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd]))));
      expect(h.log).to.deep.equal([['fail', 1007, 'WS_ERR_INVALID_UTF8']]);
      const written = h.written() as [number, Buffer][];
      expect(written[0][1].readUInt16BE(0)).to.equal(1007);
    });

    it('answers an empty close with an empty close (1005 is never sent)', () => {
      const h = new Harness('server');
      h.core.receive(clientFrame(8, ''));
      expect(h.log).to.deep.equal([['close', 1005, '']]);
      expect(h.written()).to.deep.equal([[0x8, Buffer.alloc(0)]]);
      expect(h.core.receiveEof()).to.deep.include({ code: 1005, wasClean: true });
    });
  });

  describe('closing handshake states', () => {
    it('server-initiated: sends close, waits for the reply, then closes TCP', () => {
      const h = new Harness('server');
      expect(h.core.close(4000, 'done')).to.equal(true);
      expect(h.written()).to.deep.equal([closeFrame(4000, 'done')]);
      expect(h.transportClosed).to.equal(0);
      expect(h.core.sendText('late')).to.equal(false);
      h.core.receive(clientFrame(8, closePayload(4000)));
      expect(h.transportClosed).to.equal(1);
      expect(h.written()).to.deep.equal([]);
      expect(h.core.receiveEof()).to.deep.include({ code: 4000, wasClean: true, sentCode: 4000 });
    });

    it('client-initiated: sends a masked close and waits for the server to close TCP', () => {
      const h = new Harness('client');
      h.core.close(1000, '');
      expect(h.written()).to.deep.equal([closeFrame(1000)]);
      h.core.receive(frame(8, closePayload(1000)));
      expect(h.transportClosed, 'the client waits for the server to close TCP').to.equal(0);
      expect(h.core.receiveEof()).to.deep.include({ code: 1000, wasClean: true });
    });

    it('ignores data after a close frame', () => {
      const h = new Harness('server');
      h.core.receive(Buffer.concat([clientFrame(1, 'before'), clientFrame(8, closePayload(1000)), clientFrame(1, 'after'), clientFrame(9, 'p')]));
      expect(h.log).to.deep.equal([['message', 'before'], ['close', 1000, '']]);
      expect(h.written()).to.deep.equal([closeFrame(1000)]);
    });

    it('a transport lost before the closing handshake is 1006, not clean', () => {
      const h = new Harness('server');
      h.core.receive(clientFrame(1, 'x'));
      expect(h.core.receiveEof()).to.deep.include({ code: 1006, wasClean: false });
    });

    it('messages queued before close() go out before the close frame', () => {
      const h = new Harness('server');
      h.core.sendText('one');
      h.core.sendBinary(Buffer.from([2]));
      h.core.close();
      expect(h.written()).to.deep.equal([
        [1, Buffer.from('one')],
        [2, Buffer.from([2])],
        closeFrame(1000),
      ]);
    });
  });

  describe('ping and pong', () => {
    it('answers every ping with a pong carrying the same payload', () => {
      const h = new Harness('server');
      h.core.receive(Buffer.concat([clientFrame(9, 'a'), clientFrame(9, ''), clientFrame(9, Buffer.alloc(125, 7))]));
      expect(h.written()).to.deep.equal([
        [0xa, Buffer.from('a')],
        [0xa, Buffer.alloc(0)],
        [0xa, Buffer.alloc(125, 7)],
      ]);
      expect(h.log.filter((e) => (e as unknown[])[0] === 'ping')).to.have.length(3);
    });

    it('reports pongs and refuses a ping payload over 125 bytes', () => {
      const h = new Harness('client');
      h.core.receive(frame(10, 'hb'));
      expect(h.log).to.deep.equal([['pong', 'hb']]);
      expect(h.core.ping(Buffer.alloc(126))).to.equal(false);
      expect(h.core.ping(Buffer.from('ok'))).to.equal(true);
      expect(h.written()).to.deep.equal([[0x9, Buffer.from('ok')]]);
    });
  });

  describe('outgoing fragmentation and raw frames', () => {
    it('splits text and binary into frames of at most fragmentSize bytes', () => {
      const h = new Harness('server');
      h.core.sendText('abcdefghij', 4);
      h.core.sendBinary(Buffer.from('0123456'), 3);
      expect(h.written()).to.deep.equal([
        [1, Buffer.from('abcd')],
        [0, Buffer.from('efgh')],
        [0, Buffer.from('ij')],
        [2, Buffer.from('012')],
        [0, Buffer.from('345')],
        [0, Buffer.from('6')],
      ]);
    });

    it('guards sendFrame: control frames inside a message are fine, a second message is refused', () => {
      const h = new Harness('client');
      expect(h.core.sendFrame({ opcode: 1, fin: false, payload: Buffer.from('a') })).to.equal(null);
      expect(h.core.sendFrame({ opcode: 9, fin: true })).to.equal(null);
      expect(h.core.sendFrame({ opcode: 2, fin: true })?.code).to.equal('WS_ERR_INVALID_FRAME');
      expect(h.core.sendText('x'), 'a whole message cannot interleave').to.equal(false);
      expect(h.core.sendFrame({ opcode: 0, fin: true, payload: Buffer.from('b') })).to.equal(null);
      expect(h.core.sendFrame({ opcode: 0, fin: true })?.code).to.equal('WS_ERR_INVALID_FRAME');
      expect(h.core.sendFrame({ opcode: 9, fin: false })?.code).to.equal('WS_ERR_INVALID_FRAME');
      expect(h.core.sendFrame({ opcode: 8, fin: true })?.code).to.equal('WS_ERR_INVALID_FRAME');
      expect(h.written()).to.deep.equal([
        [1, Buffer.from('a')],
        [9, Buffer.alloc(0)],
        [0, Buffer.from('b')],
      ]);
    });
  });

  it('truncates long reasons at a code point boundary', () => {
    const r = truncateReason('é'.repeat(100));
    expect(Buffer.byteLength(r)).to.be.at.most(123);
    expect(r).to.equal('é'.repeat(61));
  });
});
