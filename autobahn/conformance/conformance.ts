/**
 * `npm run conformance`: both roles against ws-rx, in-process, on free
 * loopback ports. Prints a table per category for each role, writes
 * `reports/conformance/{server,client}/index.{json,html}`, exits 1 on any
 * FAILED or NON-STRICT case.
 *
 * ```
 * npm run conformance [-- --role server|client] [--cases 1.*,7.*] [--reference] [--verbose]
 *                      [--pmd-messages N] [--deflate threshold0|default|off]
 * ```
 * `--reference` runs the same suites against the `ws` package instead (agent `ws`,
 * reports under `reports/conformance/ws-{server,client}`).
 *
 * The implementations under test have permessage-deflate enabled (ws-rx:
 * `{ threshold: 0 }`, `ws`: `true`; `--deflate default` gives ws-rx `true`,
 * `--deflate off` disables it, making 12.x/13.x INFORMATIONAL). Cases without
 * a permessage-deflate offer are unaffected. `--pmd-messages N` sets the
 * messages per 12.x/13.x case (default 10; Autobahn sends 1000).
 *
 * @packageDocumentation
 */

import * as path from 'node:path';
import { WS_RX_DEFLATE, startWsRxServer, wsClient, wsRxClient, wsRxOutcomeCheck } from './drivers';
import { setPmdMessageCount } from './cases';
import { runClientSuite } from './run-client-tests';
import { Report, exitCodeFor, formatReport, runMain, runServerSuite } from './run-server-tests';
import { startWsReferenceServer } from './ws-reference-server';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const role = arg('role');
  const cases = arg('cases');
  const reference = process.argv.includes('--reference');
  const verbose = process.argv.includes('--verbose');
  const agent = reference ? 'ws' : 'ws-rx';
  const base = arg('report-dir') ?? 'reports/conformance';
  const dir = (r: string): string => path.join(base, reference ? `ws-${r}` : r);
  const log = (l: string): void => console.log(l);
  const reports: Report[] = [];
  const pmdMessages = arg('pmd-messages');
  if (pmdMessages !== undefined) setPmdMessageCount(Number(pmdMessages));
  const deflateMode = arg('deflate') ?? 'threshold0';
  if (!['threshold0', 'default', 'off'].includes(deflateMode)) throw new Error(`--deflate threshold0|default|off (got ${deflateMode})`);
  const rxDeflate = deflateMode === 'off' ? false : deflateMode === 'default' ? true : WS_RX_DEFLATE;
  const wsDeflate = deflateMode !== 'off';

  if (role === undefined || role === 'server') {
    const srv = reference ? await startWsReferenceServer(0, { perMessageDeflate: wsDeflate }) : await startWsRxServer({ perMessageDeflate: rxDeflate });
    console.log(`== server role: ${agent} echo server at ${srv.url}`);
    try {
      const r = await runServerSuite({ url: srv.url, agent, cases, reportDir: dir('server'), verbose, log });
      console.log('\n' + formatReport(r) + `\nReports: ${path.resolve(dir('server'))}/index.{json,html}\n`);
      reports.push(r);
    } finally {
      await srv.close();
    }
  }
  if (role === undefined || role === 'client') {
    console.log(`== client role: ${agent} echo client against the fuzzing server`);
    const r = await runClientSuite({
      driver: reference ? wsClient({ perMessageDeflate: wsDeflate }) : wsRxClient({ perMessageDeflate: rxDeflate }),
      checkOutcome: reference ? undefined : wsRxOutcomeCheck,
      agent,
      cases,
      reportDir: dir('client'),
      verbose,
      log,
    });
    console.log('\n' + formatReport(r) + `\nReports: ${path.resolve(dir('client'))}/index.{json,html}\n`);
    reports.push(r);
  }
  const code = Math.max(0, ...reports.map(exitCodeFor));
  for (const r of reports) {
    const s = r.summary;
    console.log(`${(r.role ?? 'server').padEnd(6)} ${agent}: ${s.total} cases, ${s.OK} OK, ${s['NON-STRICT']} NON-STRICT, ${s.FAILED} FAILED, ${s.INFORMATIONAL} INFORMATIONAL`);
  }
  console.log(code === 0 ? 'conformance: PASS' : 'conformance: FAIL (FAILED or NON-STRICT cases above)');
  return code;
}

runMain(main);
