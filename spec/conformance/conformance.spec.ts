/**
 * Conformance suite in CI (part of the default mocha run):
 *
 * - ws-rx in both roles (server: `listen` echo; client: `connect` echo driven
 *   by the fuzzing server): every case must be OK or INFORMATIONAL; any
 *   FAILED or NON-STRICT case fails the build;
 * - the suite can fail: a deliberately broken echo server (RSV bits and
 *   reserved opcodes echoed or ignored) and a client that skips UTF-8
 *   validation get FAILED cases;
 * - a slice of the client role against the `ws` reference client.
 *
 * Reports: `npm run conformance` (this spec writes none).
 */
import { expect } from 'chai';
import { Report, runServerSuite } from '../../autobahn/conformance/run-server-tests';
import { runClientSuite } from '../../autobahn/conformance/run-client-tests';
import { ALL_CLIENT_CASES } from '../../autobahn/conformance/client-cases';
import { EchoServer, startWsRxServer, wsClient, wsRxClient, wsRxOutcomeCheck } from '../../autobahn/conformance/drivers';
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

describe('conformance: ws-rx server role (listen)', function () {
  this.timeout(90000);
  let srv: EchoServer;
  before(async () => {
    srv = await startWsRxServer();
  });
  after(() => srv.close());
  it('has no FAILED or NON-STRICT case', async () => {
    const report = await runServerSuite({ url: srv.url, agent: 'ws-rx' });
    expect(report.cases.length).to.equal(ALL_CASES.length);
    expect(strictFailures(report)).to.deep.equal([]);
  });
});

describe('conformance: ws-rx client role (connect)', function () {
  this.timeout(90000);
  it('has no FAILED or NON-STRICT case', async () => {
    const report = await runClientSuite({ driver: wsRxClient(), checkOutcome: wsRxOutcomeCheck, agent: 'ws-rx' });
    expect(report.cases.length).to.equal(ALL_CLIENT_CASES.length);
    expect(strictFailures(report)).to.deep.equal([]);
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
