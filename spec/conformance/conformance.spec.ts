/**
 * Conformance suite in CI (part of the default mocha run):
 *
 * - ws-rx in both roles (server: `listen` echo; client: `connect` echo driven
 *   by the fuzzing server), with permessage-deflate enabled (`WS_RX_DEFLATE`):
 *   every case must be OK or INFORMATIONAL; any FAILED or NON-STRICT case
 *   fails the build; every permessage-deflate case (12.x/13.x) must be OK
 *   (negotiated and run, not UNIMPLEMENTED);
 * - the suite's permessage-deflate oracle (`pmd.ts`): response checks per
 *   RFC 7692 7.1, context takeover and window size caught when violated;
 * - the suite can fail: a deliberately broken echo server (RSV bits and
 *   reserved opcodes echoed or ignored) and a client that skips UTF-8
 *   validation get FAILED cases;
 * - a slice of the client role against the `ws` reference client, and the
 *   permessage-deflate cases (a slice) against `ws` in both roles.
 *
 * Reports: `npm run conformance` (this spec writes none).
 */
import { expect } from 'chai';
import { Report, runServerSuite } from '../../autobahn/conformance/run-server-tests';
import { runClientSuite } from '../../autobahn/conformance/run-client-tests';
import { ALL_CLIENT_CASES } from '../../autobahn/conformance/client-cases';
import { EchoServer, WS_RX_DEFLATE, startWsRxServer, wsClient, wsRxClient, wsRxOutcomeCheck } from '../../autobahn/conformance/drivers';
import { startWsReferenceServer } from '../../autobahn/conformance/ws-reference-server';
import {
  MessageDeflater,
  MessageInflater,
  autobahnAccept,
  autobahnOffer,
  checkServerResponse,
  parseExtensions,
} from '../../autobahn/conformance/pmd';
import { startBrokenEchoServer, RunningBrokenServer } from '../../autobahn/conformance/broken-echo-server';
import { createUtf8TestSequences, ALL_CASES } from '../../autobahn/conformance/cases';
import { FrameParser, buildFrame, isValidUtf8, Opcode } from '../../autobahn/conformance/frames';

describe('conformance suite: frames', () => {
  it('round-trips frames with 7/16/64-bit lengths through the parser', () => {
    for (const len of [0, 125, 126, 65535, 65536]) {
      const payload = Buffer.alloc(len, 0x2a);
      const wire = buildFrame({ opcode: Opcode.BINARY, payload, mask: false });
      const p = new FrameParser();
      const frames = [...p.push(wire.subarray(0, 3)), ...p.push(wire.subarray(3))];
      expect(frames).to.have.length(1);
      expect(frames[0].payload.equals(payload)).to.equal(true);
      expect(frames[0].lengthWidth).to.equal(len <= 125 ? 7 : len <= 65535 ? 16 : 64);
    }
  });
  it('can force non-minimal lengths and reserved bits', () => {
    const f = buildFrame({ opcode: 3, rsv: 7, payload: 'x', lengthEncoding: 64, maskKey: Buffer.from([1, 2, 3, 4]) });
    expect(f[0]).to.equal(0xf3);
    expect(f[1]).to.equal(0xff);
    const [pf] = new FrameParser().push(f);
    expect(pf.nonMinimalLength).to.equal(true);
    expect(pf.payload.toString()).to.equal('x');
  });
  it('UTF-8 table matches the validator verdicts', () => {
    for (const [, seqs] of createUtf8TestSequences()) for (const [valid, bytes] of seqs) expect(isValidUtf8(bytes), bytes.toString('hex')).to.equal(valid);
  });
  it('has unique case ids', () => {
    const ids = ALL_CASES.map((c) => c.id);
    expect(new Set(ids).size).to.equal(ids.length);
  });
});

const strictFailures = (r: Report): string[] =>
  r.cases.filter((c) => c.verdict === 'FAILED' || c.verdict === 'NON-STRICT').map((c) => `${c.id}: ${c.verdict} ${c.reason}`);
/** 12.x/13.x cases that were not OK (UNIMPLEMENTED = permessage-deflate not negotiated counts too). */
const deflateNotOk = (r: Report): string[] =>
  r.cases.filter((c) => (c.category === '12' || c.category === '13') && c.verdict !== 'OK').map((c) => `${c.id}: ${c.verdict} ${c.reason}`);

describe('conformance suite: permessage-deflate oracle (pmd.ts)', () => {
  const offer = (s: string) => parseExtensions(s)!;
  it('accepts valid responses and returns the agreed parameters', () => {
    expect(checkServerResponse('permessage-deflate', [autobahnOffer()])).to.deep.include({ serverNoContextTakeover: false, clientMaxWindowBits: 15 });
    expect(checkServerResponse('permessage-deflate; server_max_window_bits=8; client_no_context_takeover', [autobahnOffer(false, 8)])).to.deep.include({
      serverMaxWindowBits: 8,
      clientNoContextTakeover: true,
    });
    expect(checkServerResponse(undefined, [autobahnOffer()])).to.equal(null);
    // 13.7: the response may answer any of the offers
    expect(checkServerResponse('permessage-deflate', [autobahnOffer(true, 8), autobahnOffer(true), autobahnOffer()])).to.be.an('object');
  });
  it('rejects responses that break RFC 7692 7.1', () => {
    const bad: Array<[string, string]> = [
      ['permessage-deflate', 'permessage-deflate; server_no_context_takeover'], // 7.1.1.1 must be echoed
      ['permessage-deflate', 'permessage-deflate; server_max_window_bits=10'], // 7.1.2.1 must be answered
      ['permessage-deflate; server_max_window_bits=12', 'permessage-deflate; server_max_window_bits=10'], // larger than offered
      ['permessage-deflate; client_max_window_bits=10', 'permessage-deflate'], // 7.1.2.2 not offered
      ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits'], // needs a value
      ['permessage-deflate; x_unknown', 'permessage-deflate'],
      ['permessage-deflate; server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=8'],
      ['permessage-deflate, permessage-deflate', 'permessage-deflate'],
      ['x-webkit-deflate-frame', 'permessage-deflate'],
    ];
    for (const [resp, off] of bad) expect(checkServerResponse(resp, offer(off)), `${resp} for ${off}`).to.be.a('string');
  });
  it('answers client offers like Autobahn, within RFC 7692', () => {
    const fmt = (x: ReturnType<ReturnType<typeof autobahnAccept>>) => x && x.params;
    expect(fmt(autobahnAccept(true, 8)(offer('permessage-deflate; client_max_window_bits')))).to.deep.equal({ client_no_context_takeover: true, client_max_window_bits: '8' });
    expect(fmt(autobahnAccept(false, 0)(offer('permessage-deflate; server_no_context_takeover; server_max_window_bits=9')))).to.deep.equal({
      server_no_context_takeover: true,
      server_max_window_bits: '9',
    });
    // client_max_window_bits is never sent unoffered (7.1.2.2): such an offer is skipped
    expect(autobahnAccept(false, 8)(offer('permessage-deflate'))).to.equal(null);
    expect(autobahnAccept(false, 0)(offer('permessage-deflate; bogus'))).to.equal(null);
  });
  it('catches a peer that keeps its context after promising not to', async () => {
    const msg = Buffer.from('the same sentence, twice over, compresses with context. '.repeat(4));
    const d = new MessageDeflater(15, false);
    const [a, b] = [await d.compress(msg), await d.compress(msg)];
    expect(b.length).to.be.lessThan(a.length / 4);
    const keeps = new MessageInflater(15, false);
    expect((await keeps.decompress(a)).equals(msg)).to.equal(true);
    expect((await keeps.decompress(b)).equals(msg)).to.equal(true);
    const resets = new MessageInflater(15, true);
    expect((await resets.decompress(a)).equals(msg)).to.equal(true);
    let failed = false;
    try {
      const out = await resets.decompress(b);
      failed = !out.equals(msg);
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
    d.reset();
    keeps.reset();
    resets.reset();
  });
  it('catches a peer that uses a window more than twice as large as agreed', async () => {
    // 1000 pseudo-random octets repeated: matches only at distance 1000 (> 2^9)
    const block = Buffer.alloc(1000);
    let x = 12345;
    for (let i = 0; i < block.length; i++) block[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const data = await new MessageDeflater(15, true).compress(Buffer.concat([block, block, block]));
    let error: unknown = null;
    await new MessageInflater(9, true).decompress(data).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/distance too far back/);
  });
});

describe('conformance: ws-rx server role (listen, permessage-deflate enabled)', function () {
  this.timeout(150000);
  let srv: EchoServer;
  before(async () => {
    srv = await startWsRxServer({ perMessageDeflate: WS_RX_DEFLATE });
  });
  after(() => srv.close());
  it('has no FAILED or NON-STRICT case; every 12.x/13.x case negotiates permessage-deflate and is OK', async () => {
    const report = await runServerSuite({ url: srv.url, agent: 'ws-rx' });
    expect(report.cases.length).to.equal(ALL_CASES.length);
    expect(strictFailures(report)).to.deep.equal([]);
    expect(deflateNotOk(report)).to.deep.equal([]);
  });
});

describe('conformance: ws-rx client role (connect, permessage-deflate enabled)', function () {
  this.timeout(150000);
  it('has no FAILED or NON-STRICT case; every 12.x/13.x case negotiates permessage-deflate and is OK', async () => {
    const report = await runClientSuite({ driver: wsRxClient({ perMessageDeflate: WS_RX_DEFLATE }), checkOutcome: wsRxOutcomeCheck, agent: 'ws-rx' });
    expect(report.cases.length).to.equal(ALL_CLIENT_CASES.length);
    expect(strictFailures(report)).to.deep.equal([]);
    expect(deflateNotOk(report)).to.deep.equal([]);
  });
});

describe('conformance: permessage-deflate cases vs ws (reference, perMessageDeflate: true)', function () {
  this.timeout(30000);
  // First case of every subcategory (16-octet messages) and the violations.
  const cases = '12.*.1,13.*.1,13.*.15,13.8.*';
  it('server role: all OK', async () => {
    const srv = await startWsReferenceServer(0, { perMessageDeflate: true });
    try {
      const report = await runServerSuite({ url: srv.url, agent: 'ws', cases });
      expect(report.cases.length).to.equal(26);
      expect(deflateNotOk(report)).to.deep.equal([]);
    } finally {
      await srv.close();
    }
  });
  it('client role: all OK', async () => {
    const report = await runClientSuite({ driver: wsClient({ perMessageDeflate: true }), agent: 'ws', cases });
    expect(report.cases.length).to.equal(26);
    expect(deflateNotOk(report)).to.deep.equal([]);
  });
  it('grades every 12.x/13.x case INFORMATIONAL (UNIMPLEMENTED) when the client does not offer permessage-deflate', async () => {
    const report = await runClientSuite({ driver: wsClient({ perMessageDeflate: false }), agent: 'ws-no-pmd', cases: '12.1.1,13.8.1' });
    expect(report.cases.map((c) => c.verdict)).to.deep.equal(['INFORMATIONAL', 'INFORMATIONAL']);
  });
});

describe('conformance: client role vs ws (reference)', function () {
  this.timeout(30000);
  it('grades handshake, framing, reserved bits and opcodes OK', async () => {
    const report = await runClientSuite({ driver: wsClient(), agent: 'ws', cases: '0.*,1.*,3.*,4.*' });
    expect(strictFailures(report)).to.deep.equal([]);
    expect(report.summary.OK).to.equal(report.cases.length);
  });
});

describe('conformance: the client role can fail', function () {
  this.timeout(30000);
  it('reports FAILED for invalid UTF-8 when the client skips UTF-8 validation', async () => {
    const report = await runClientSuite({ driver: wsClient({ skipUTF8Validation: true }), agent: 'ws-no-utf8', cases: '6.3.*,6.5.1,6.6.1' });
    const verdicts = Object.fromEntries(report.cases.map((c) => [c.id, c.verdict]));
    expect(verdicts).to.deep.equal({ '6.3.1': 'FAILED', '6.3.2': 'FAILED', '6.5.1': 'OK', '6.6.1': 'FAILED' });
  });
});

describe('conformance: the server role can fail (broken echo server)', function () {
  this.timeout(60000);
  // mode echo: RSV bits / reserved opcodes echoed back; mode drop: silently ignored
  // (every drop case waits for our 1 s killAfter, hence the smaller selection).
  for (const [mode, cases] of [
    ['echo', '3.*,4.*'],
    ['drop', '3.1,3.5,4.1.1,4.2.1'],
  ] as const)
    describe(`mode ${mode}`, () => {
      let srv: RunningBrokenServer;
      before(async () => {
        srv = await startBrokenEchoServer(0, mode);
      });
      after(() => srv.close());
      it(`reports FAILED for RSV and reserved-opcode cases (mode ${mode})`, async () => {
        const report = await runServerSuite({ url: srv.url, cases, agent: `broken-${mode}` });
        const notFailed = report.cases.filter((c) => c.verdict !== 'FAILED' && c.id !== '3.7');
        expect(notFailed.map((c) => `${c.id}: ${c.verdict}`)).to.deep.equal([]);
        expect(report.summary.FAILED).to.be.at.least(4);
      });
    });
});
