/**
 * Runner for the **client** role: starts the fuzzing server on a free
 * loopback port and lets a client under test play every case, either
 * in-process (a {@link ClientDriver}) or as a child process that follows the
 * fuzzingserver convention (`/getCaseCount`, `/runCase`, `/updateReports`).
 *
 * ```
 * # ws-rx's client (in-process), the ws reference, or any command:
 * node -r ts-node/register/transpile-only autobahn/conformance/run-client-tests.ts --client ws-rx|ws
 * node -r ts-node/register/transpile-only autobahn/conformance/run-client-tests.ts \
 *   --command 'npm run -s autobahn:client -- --url {url} --agent {agent}' --agent ws-rx
 *   [--cases 1.*,2.*] [--report-dir reports/conformance/client] [--no-report] [--timeout 5000] [--verbose] [--list]
 * ```
 *
 * @packageDocumentation
 */

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ClientCase, selectClientCases } from './client-cases';
import type { ClientDriver } from './drivers';
import { ClientOutcome, startFuzzingServer } from './fuzzing-server';
import { compareIds } from './cases';
import { Report, printReport, runMain, summarize, writeReports } from './run-server-tests';

/** Options for {@link runClientSuite}. */
export interface ClientRunOptions {
  /** In-process client under test. */
  driver?: ClientDriver;
  /** Or: a shell command following the fuzzingserver convention; `{url}` and `{agent}` are substituted. */
  command?: string;
  agent: string;
  cases?: string | string[];
  caseList?: readonly ClientCase[];
  /** Default `null` (no files). */
  reportDir?: string | null;
  timeoutMs?: number;
  log?: (line: string) => void;
  verbose?: boolean;
  /** Extra client-side check per case (in-process drivers): a string fails the case. */
  checkOutcome?: (caseId: string, outcome: ClientOutcome) => string | null;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T | Error> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<Error>((r) => {
      t = setTimeout(() => r(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Run the client-role suite and return the report. Never throws for client misbehaviour. */
export async function runClientSuite(opts: ClientRunOptions): Promise<Report> {
  const log = opts.log ?? ((): void => undefined);
  const list = opts.caseList ?? selectClientCases(opts.cases);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const server = await startFuzzingServer({ caseList: list, reportDir: opts.reportDir ?? null, timeoutMs, log });
  const t0 = performance.now();
  const agent = opts.agent;
  const done = (n: number): void => {
    const r = server.results.get(agent)?.get(n);
    if (r && (opts.verbose || r.verdict !== 'OK')) log(`${r.verdict.padEnd(13)} ${r.id.padEnd(8)} ${String(r.durationMs).padStart(5)} ms${r.reason ? '  ' + r.reason : ''}`);
  };
  try {
    if (opts.driver) {
      for (let n = 1; n <= list.length; n++) {
        const c = list[n - 1];
        const budget = Math.max(timeoutMs, c.minTimeoutMs ?? 0) + 3000;
        const url = `${server.url}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`;
        const outcome = await withTimeout(opts.driver(url), budget, `client for case ${c.id}`);
        const graded = await withTimeout(server.caseDone(agent, n), budget, `grading of case ${c.id}`);
        if (outcome instanceof Error) server.reportOutcome(agent, n, outcome.message);
        else if (opts.checkOutcome) server.reportOutcome(agent, n, opts.checkOutcome(c.id, outcome));
        if (graded instanceof Error) log(`FAILED        ${c.id}: ${graded.message}`);
        done(n);
      }
    } else if (opts.command) {
      const cmd = opts.command.replace(/\{url\}/g, server.url).replace(/\{agent\}/g, agent);
      const total = list.reduce((t, c) => t + Math.max(timeoutMs, c.minTimeoutMs ?? 0) + 1000, 10000);
      log(`running: ${cmd}`);
      const child = spawn(cmd, { shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
      const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const res = await withTimeout(exit, total, 'client command');
      if (res instanceof Error) {
        log(res.message);
        child.kill('SIGTERM');
      } else if (res !== 0) log(`client command exited with ${res}`);
      for (let n = 1; n <= list.length; n++) done(n);
    } else throw new Error('runClientSuite: pass a driver or a command');
    // Cases the client never ran are FAILED.
    const m = server.results.get(agent);
    const missing = list.filter((_, i) => !m?.has(i + 1));
    const report = server.report(agent, false);
    for (const c of missing)
      report.cases.push({
        id: c.id,
        category: c.id.split('.')[0],
        description: c.description,
        expectation: c.expectation,
        verdict: 'FAILED',
        behavior: 'FAILED',
        behaviorClose: 'FAILED',
        result: 'The client never ran this case.',
        resultClose: '',
        reason: 'The client never ran this case.',
        durationMs: 0,
        closeCode: null,
        closeReason: null,
        closedBy: null,
        closeAnswered: null,
        serverSentClose: false,
        tcpDroppedBy: null,
        wasClean: false,
        wasNotCleanReason: null,
        violation: null,
        httpStatus: null,
        received: [],
        expected: {},
        wirelog: [],
      });
    report.cases.sort((a, b) => compareIds(a.id, b.id));
    Object.assign(report, summarize(report.cases));
    report.durationMs = Math.round(performance.now() - t0);
    if (opts.reportDir) writeReports(report, opts.reportDir);
    return report;
  } finally {
    await server.close();
  }
}

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

const USAGE = `usage: node -r ts-node/register/transpile-only autobahn/conformance/run-client-tests.ts
       (--client ws-rx|ws | --command 'CMD with {url} and {agent}') [--agent NAME]
       [--cases 1.*,2.*,!9.*] [--report-dir reports/conformance/client] [--no-report]
       [--timeout MS] [--verbose] [--list]`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const cases = typeof args.cases === 'string' ? args.cases : undefined;
  if (args.list) {
    for (const c of selectClientCases(cases)) console.log(`${c.id.padEnd(9)} ${c.description}`);
    return 0;
  }
  let driver: ClientDriver | undefined;
  let checkOutcome: ClientRunOptions['checkOutcome'];
  const client = typeof args.client === 'string' ? args.client : undefined;
  if (client) {
    const d = await import('./drivers');
    if (client === 'ws-rx') {
      driver = d.wsRxClient();
      checkOutcome = d.wsRxOutcomeCheck;
    } else if (client === 'ws') driver = d.wsClient();
    else {
      console.error(USAGE);
      return 2;
    }
  } else if (typeof args.command !== 'string') {
    console.error(USAGE);
    return 2;
  }
  const reportDir = args['no-report'] ? null : typeof args['report-dir'] === 'string' ? args['report-dir'] : 'reports/conformance/client';
  const report = await runClientSuite({
    driver,
    command: typeof args.command === 'string' ? args.command : undefined,
    agent: typeof args.agent === 'string' ? args.agent : (client ?? 'client'),
    cases,
    reportDir,
    timeoutMs: typeof args.timeout === 'string' ? Number(args.timeout) : undefined,
    verbose: args.verbose === true,
    checkOutcome,
    log: (l) => console.log(l),
  });
  return printReport(report, reportDir);
}

if (require.main === module) runMain(main);
