/**
 * Self-test of the conformance suite (not part of the default `spec/` run):
 *
 * ```
 * npx mocha --no-config -r ts-node/register/transpile-only --extension ts --timeout 120000 --exit autobahn/conformance/conformance.spec.ts
 * ```
 *
 * - against the `ws` reference server every case must be OK, except the
 *   fail-fast UTF-8 cases 6.4.x (ws validates per message: NON-STRICT, as in
 *   Autobahn) and the INFORMATIONAL ones;
 * - against the broken echo server the RSV / opcode cases must be FAILED.
 */

import { expect } from 'chai';
import { runServerSuite } from './run-server-tests';
import { startWsReferenceServer, RunningServer } from './ws-reference-server';
import { startBrokenEchoServer, RunningBrokenServer } from './broken-echo-server';
import { createUtf8TestSequences, ALL_CASES } from './cases';
import { FrameParser, buildFrame, isValidUtf8, Opcode } from './frames';

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

describe('conformance suite vs ws (reference)', function () {
  this.timeout(180000);
  let srv: RunningServer;
  before(async () => {
    srv = await startWsReferenceServer(0);
  });
  after(() => srv.close());

  it('grades every case OK (6.4.x NON-STRICT and informational cases excepted)', async () => {
    const report = await runServerSuite({ url: srv.url, agent: 'ws' });
    const unexpected = report.cases.filter(
      (c) => c.verdict !== 'OK' && !(c.verdict === 'NON-STRICT' && c.id.startsWith('6.4.')) && c.verdict !== 'INFORMATIONAL',
    );
    expect(unexpected.map((c) => `${c.id}: ${c.verdict} ${c.reason}`)).to.deep.equal([]);
  });
});

describe('conformance suite vs broken echo server', function () {
  this.timeout(120000);
  for (const mode of ['echo', 'drop'] as const) describe(`mode ${mode}`, () => {
    let srv: RunningBrokenServer;
    before(async () => {
      srv = await startBrokenEchoServer(0, mode);
    });
    after(() => srv.close());
    it(`reports FAILED for RSV and reserved-opcode cases (mode ${mode})`, async () => {
      const report = await runServerSuite({ url: srv.url, cases: '3.*,4.*', agent: `broken-${mode}` });
      const notFailed = report.cases.filter((c) => c.verdict !== 'FAILED' && c.id !== '3.7');
      expect(notFailed.map((c) => `${c.id}: ${c.verdict}`)).to.deep.equal([]);
      expect(report.summary.FAILED).to.be.greaterThan(15);
    });
  });
});
