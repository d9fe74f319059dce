/**
 * Autobahn-style conformance runner for a WebSocket **server** under test.
 *
 * CLI:
 * ```
 * node -r ts-node/register/transpile-only autobahn/conformance/run-server-tests.ts \
 *   --url ws://127.0.0.1:9001 [--cases 1.*,2.*] [--report-dir reports/conformance/server] \
 *   [--agent NAME] [--timeout 5000] [--verbose] [--list]
 * ```
 * Programmatic: {@link runServerSuite}.
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ALL_CASES, Behavior, CATEGORIES, ConformanceCase, PMD_SUBCATEGORIES, UTF8_SUBCATEGORIES, compareIds, selectCases } from './cases';
import { buildFrame } from './frames';
import { describeEvent, driveCase, gradeCloseHandshake, gradeEvents } from './case-driver';
import { ClientSession, DEFAULT_TIMEOUTS } from './session';

/** Final verdict of a case. INFORMATIONAL never fails a run. */
export type Verdict = 'OK' | 'NON-STRICT' | 'FAILED' | 'INFORMATIONAL';

/** Autobahn's closing-behaviour values. */
export type CloseBehavior = 'OK' | 'FAILED' | 'WRONG CODE' | 'UNCLEAN' | 'FAILED BY CLIENT' | 'INFORMATIONAL';

/** Result of one case. */
export interface CaseResult {
  id: string;
  /** Top-level category ("1", "6", ...). */
  category: string;
  description: string;
  expectation: string;
  /** Combined verdict (see README: worst of `behavior` and `behaviorClose`). */
  verdict: Verdict;
  /** Autobahn `behavior` (events part). */
  behavior: Behavior;
  /** Autobahn `behaviorClose` (closing part). */
  behaviorClose: CloseBehavior;
  /** Autobahn `result` text. */
  result: string;
  /** Autobahn `resultClose` text. */
  resultClose: string;
  /** Short reason for a non-OK verdict ("" when OK). */
  reason: string;
  durationMs: number;
  /** Close code in the server's close frame (null: no close frame or empty payload). */
  closeCode: number | null;
  closeReason: string | null;
  /** Who sent the first close frame. */
  closedBy: 'client' | 'server' | null;
  /** Was the close answered (by the server if we closed; by us if it closed)? null: no close at all. */
  closeAnswered: boolean | null;
  /** Did the server send a close frame at all? */
  serverSentClose: boolean;
  /** Who dropped the TCP connection. */
  tcpDroppedBy: 'client' | 'server' | null;
  wasClean: boolean;
  wasNotCleanReason: string | null;
  /** First protocol violation committed by the server. */
  violation: string | null;
  /** HTTP status of the handshake response. */
  httpStatus: number | null;
  /** Received events (described). */
  received: string[];
  /** Expected event sequences (described). */
  expected: Record<string, string[]>;
  /** Wire log (bounded). */
  wirelog: string[];
}

/** Per-category tally. */
export interface CategorySummary {
  category: string;
  name: string;
  total: number;
  OK: number;
  'NON-STRICT': number;
  FAILED: number;
  INFORMATIONAL: number;
}

/** Whole-run report (also written as index.json). */
export interface Report {
  agent: string;
  url: string;
  /** Which role was tested: `server` (default, this runner) or `client` (fuzzing server). */
  role?: 'server' | 'client';
  startedAt: string;
  durationMs: number;
  timeoutMs: number;
  summary: Omit<CategorySummary, 'category' | 'name'>;
  categories: CategorySummary[];
  cases: CaseResult[];
}

/** Options for {@link runServerSuite}. */
export interface RunOptions {
  /** ws://host:port/path of the server under test (loopback recommended). */
  url: string;
  /** Case selection, e.g. "1.*,2.*" or ["6.4.*"]; `!` excludes. Default: all. */
  cases?: string | string[];
  /** Write index.json / index.html here. Default: no files. */
  reportDir?: string | null;
  /** Agent name for the report. Default: "server". */
  agent?: string;
  /** Default per-case time budget in ms (cases may declare a larger minimum). Default 5000. */
  timeoutMs?: number;
  /** Progress/log sink. Default: silent. */
  log?: (line: string) => void;
  /** Log every case (not only non-OK ones). */
  verbose?: boolean;
  /** Explicit case list (overrides `cases`). */
  caseList?: readonly ConformanceCase[];
}

/** Parse a ws:// URL into host/port/path. */
export function parseTarget(url: string): { host: string; port: number; path: string } {
  const u = new URL(url);
  if (u.protocol !== 'ws:') throw new Error(`only ws:// URLs are supported (got ${u.protocol})`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { host, port: Number(u.port || 80), path: (u.pathname || '/') + (u.search || '') };
}

/** Combine Autobahn's two behaviours into one verdict. */
export function combineVerdict(behavior: Behavior, behaviorClose: CloseBehavior): Verdict {
  if (behavior === 'FAILED' || behaviorClose === 'FAILED' || behaviorClose === 'UNCLEAN') return 'FAILED';
  if (behavior === 'INFORMATIONAL') return 'INFORMATIONAL';
  if (behavior === 'NON-STRICT' || behaviorClose === 'WRONG CODE' || behaviorClose === 'FAILED BY CLIENT') return 'NON-STRICT';
  return 'OK';
}

/**
 * Run one case on a fresh TCP connection and grade it.
 * @param budgetMs default per-case time budget (the case's `minTimeoutMs` may raise it)
 */
export async function runCase(c: ConformanceCase, url: string, budgetMs = 5000): Promise<CaseResult> {
  const target = parseTarget(url);
  const budget = Math.max(budgetMs, c.minTimeoutMs ?? 0);
  // Leave room for a close handshake + server drop after the last timer.
  const clamp = (ms: number): number => Math.max(0, Math.min(ms, budget - 2 * DEFAULT_TIMEOUTS.closeHandshakeMs - 500));
  const s = new ClientSession({ ...DEFAULT_TIMEOUTS, openHandshakeMs: Math.min(DEFAULT_TIMEOUTS.openHandshakeMs, budget - 500) });
  const t0 = performance.now();
  let hardTimedOut = false;
  const hard = setTimeout(() => {
    hardTimedOut = true;
    s.log(`hard case timeout (${budget} ms)`);
    s.drop('hard case timeout');
  }, budget);

  const { outcome, exec } = driveCase(c, s, budget, clamp);

  const hs = c.handshake;
  const rejectCase = hs !== undefined && hs.expect !== 'upgrade';
  let behaviorClose: CloseBehavior = 'FAILED';
  let resultClose = 'TCP connection was dropped without close handshake';

  try {
    await s.connect({ host: target.host, port: target.port, path: target.path, request: hs?.request, chop: hs?.chop, expectUpgrade: !rejectCase, extensions: c.deflate?.offers });
    if (c.deflate && s.connectionWasOpen && !s.pmd) {
      // Autobahn: UNIMPLEMENTED. Graded INFORMATIONAL below.
      s.sendClose(1000);
    }
    if (rejectCase) {
      const grade = hs.expect as Exclude<typeof hs.expect, 'upgrade'>;
      if (s.response) ({ behavior: outcome.behavior, result: outcome.result } = grade(s.response));
      else {
        outcome.behavior = 'FAILED';
        outcome.result = `no valid HTTP response: ${s.handshakeError ?? 'unknown'}`;
      }
      behaviorClose = 'OK';
      resultClose = 'n/a (handshake rejection case)';
      s.drop('handshake case done');
    } else if (s.connectionWasOpen && !(c.deflate && !s.pmd)) {
      for (const a of c.actions) {
        if (s.state === 'closed') break;
        if (!(await exec(a))) break;
      }
    }
    await s.lost;
  } catch (e) {
    s.log(`runner error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    s.drop('runner error');
    await s.lost;
    outcome.behavior = 'FAILED';
    outcome.result = `runner error: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    clearTimeout(hard);
  }
  const durationMs = Math.round(performance.now() - t0);

  if (!rejectCase) gradeEvents(c, s.received, outcome, (note) => note);
  let { behavior, result } = outcome;
  if (!rejectCase) {
    const ec = c.expectedClose;
    if (s.connectionWasOpen && ec) {
      const closeGrade = gradeCloseHandshake(ec, s, 'server');
      if (closeGrade) ({ behaviorClose, resultClose } = closeGrade);
      else if (s.droppedByMe) {
        behaviorClose = 'FAILED BY CLIENT';
        resultClose = `It is preferred that the server close the TCP connection (${s.wasNotCleanReason ?? 'we dropped it'})`;
      } else {
        behaviorClose = 'OK';
        resultClose = 'Connection was properly closed';
      }
      if (ec.closedByWrongEndpointIsFatal && ec.closedByMe !== s.closedByMe) {
        behavior = 'FAILED';
        result = 'The server did not fail the connection (closed by the wrong endpoint): invalid UTF-8 was not detected';
      }
    } else if (!s.connectionWasOpen) {
      behaviorClose = 'FAILED';
      resultClose = `The WebSocket opening handshake was never completed! (${s.handshakeError ?? 'unknown'})`;
      behavior = 'FAILED';
      result = resultClose;
    }
    if (c.wrongCodeIsFatal && behaviorClose === 'WRONG CODE') {
      behavior = 'FAILED';
      result = resultClose;
    }
    if (c.deflate && s.connectionWasOpen && !s.pmd) {
      behavior = 'INFORMATIONAL';
      behaviorClose = 'INFORMATIONAL';
      result = 'UNIMPLEMENTED: the server declined the permessage-deflate offer (a server may decline; the case was not run).';
    }
    if (c.informational && s.connectionWasOpen) {
      const recv = s.received.map(describeEvent).join(', ') || 'nothing';
      result = `Implementation-defined outcome. Received: ${recv}; close ${s.remoteCloseCode ?? 'none'}; ${resultClose}.`;
      behavior = 'INFORMATIONAL';
      behaviorClose = 'INFORMATIONAL';
    }
  }
  if (s.violation) {
    behavior = 'FAILED';
    result = `Server protocol violation: ${s.violation}`;
  }
  if (hardTimedOut) {
    behavior = 'FAILED';
    result = `Case did not finish within its ${budget} ms budget (server hung?)`;
  }

  const verdict = rejectCase ? (behavior as Verdict) : combineVerdict(behavior, behaviorClose);
  let reason = '';
  if (verdict !== 'OK') {
    if (verdict === 'INFORMATIONAL') reason = result;
    else if (verdict === 'FAILED')
      reason = behavior === 'FAILED' ? result : `close behaviour ${behaviorClose}: ${resultClose}`;
    else reason = behavior === 'NON-STRICT' ? (result === 'Actual events match at least one expected.' ? 'events match the NON-STRICT expectation' : result) : `close behaviour ${behaviorClose}: ${resultClose}`;
    if (verdict === 'NON-STRICT' && behavior === 'NON-STRICT' && behaviorClose !== 'OK') reason += `; close behaviour ${behaviorClose}: ${resultClose}`;
  }

  const expected: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(c.expected ?? {})) if (v) expected[k] = v.map(describeEvent);

  return {
    id: c.id,
    category: c.id.split('.')[0],
    description: c.description,
    expectation: c.expectation,
    verdict,
    behavior,
    behaviorClose,
    result,
    resultClose,
    reason,
    durationMs,
    closeCode: s.remoteCloseCode,
    closeReason: s.remoteCloseReason,
    closedBy: s.closeFrameSent && s.closedByMe ? 'client' : s.serverSentClose ? 'server' : null,
    closeAnswered: s.closeFrameSent && s.closedByMe ? s.serverSentClose : s.serverSentClose ? s.closeFrameSent : null,
    serverSentClose: s.serverSentClose,
    tcpDroppedBy: s.response || s.connectionWasOpen ? (s.droppedByMe ? 'client' : 'server') : null,
    wasClean: s.wasClean,
    wasNotCleanReason: s.wasNotCleanReason,
    violation: s.violation,
    httpStatus: s.response?.statusCode ?? null,
    received: s.received.map(describeEvent),
    expected,
    // keep reports small: full (bounded) wire log only for non-OK cases
    wirelog: verdict === 'OK' ? s.wirelog.slice(0, 30) : s.wirelog,
  };
}

function emptyTally(category: string, name: string): CategorySummary {
  return { category, name, total: 0, OK: 0, 'NON-STRICT': 0, FAILED: 0, INFORMATIONAL: 0 };
}

/** Tally results per category and overall. */
export function summarize(results: readonly CaseResult[]): { summary: Report['summary']; categories: CategorySummary[] } {
  const cats = new Map<string, CategorySummary>();
  const all = emptyTally('*', 'all');
  for (const r of results) {
    let t = cats.get(r.category);
    if (!t) cats.set(r.category, (t = emptyTally(r.category, CATEGORIES[r.category] ?? '?')));
    for (const x of [t, all]) {
      x.total++;
      x[r.verdict]++;
    }
  }
  const { category: _c, name: _n, ...summary } = all;
  return { summary, categories: [...cats.values()].sort((a, b) => compareIds(a.category, b.category)) };
}

/**
 * Run the selected cases sequentially against the server at `opts.url`
 * (a fresh TCP connection per case, bounded by a per-case time budget),
 * optionally write `index.json` + `index.html` to `opts.reportDir`, and
 * return the report. Never throws for server misbehaviour.
 */
export async function runServerSuite(opts: RunOptions): Promise<Report> {
  const log = opts.log ?? ((): void => undefined);
  const list = opts.caseList ?? selectCases(opts.cases);
  const timeoutMs = opts.timeoutMs ?? 5000;
  parseTarget(opts.url);
  const started = new Date();
  const t0 = performance.now();
  const results: CaseResult[] = [];
  for (const c of list) {
    const r = await runCase(c, opts.url, timeoutMs);
    results.push(r);
    if (opts.verbose || r.verdict !== 'OK')
      log(`${r.verdict.padEnd(13)} ${r.id.padEnd(8)} ${String(r.durationMs).padStart(5)} ms${r.reason ? '  ' + r.reason : ''}`);
  }
  const { summary, categories } = summarize(results);
  const report: Report = {
    agent: opts.agent ?? 'server',
    url: opts.url,
    role: 'server',
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    timeoutMs,
    summary,
    categories,
    cases: results,
  };
  if (opts.reportDir) writeReports(report, opts.reportDir);
  return report;
}

/** Render the per-category table and the list of non-OK cases as plain text. */
export function formatReport(report: Report): string {
  const lines: string[] = [];
  const row = (a: string, b: string, c: string, d: string, e: string, f: string): string =>
    `${a.padEnd(26)}${b.padStart(7)}${c.padStart(7)}${d.padStart(12)}${e.padStart(8)}${f.padStart(7)}`;
  lines.push(`${report.role ?? 'server'} conformance report for ${report.agent} @ ${report.url}  (${report.cases.length} cases, ${(report.durationMs / 1000).toFixed(1)} s)`);
  lines.push(row('Category', 'Cases', 'OK', 'NON-STRICT', 'FAILED', 'INFO'));
  for (const c of report.categories)
    lines.push(row(`${c.category.padEnd(3)}${c.name}`, String(c.total), String(c.OK), String(c['NON-STRICT']), String(c.FAILED), String(c.INFORMATIONAL)));
  const s = report.summary;
  lines.push(row('TOTAL', String(s.total), String(s.OK), String(s['NON-STRICT']), String(s.FAILED), String(s.INFORMATIONAL)));
  const bad = report.cases.filter((r) => r.verdict !== 'OK');
  if (bad.length) {
    lines.push('');
    lines.push('Non-OK cases:');
    for (const r of bad)
      lines.push(
        `  ${r.verdict.padEnd(13)} ${r.id.padEnd(8)} ${r.reason}  [close=${r.closeCode ?? '-'} closedBy=${r.closedBy ?? '-'} tcpDroppedBy=${r.tcpDroppedBy ?? '-'} ${r.durationMs} ms]`,
      );
  }
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch] as string);
}

/** Render the report as a self-contained HTML page. */
export function renderHtml(report: Report): string {
  const cls = (v: string): string => 'v-' + v.toLowerCase().replace(/[^a-z]+/g, '-');
  const catRows = report.categories
    .map(
      (c) =>
        `<tr><td>${esc(c.category)}</td><td>${esc(c.name)}</td><td>${c.total}</td><td class="${c.OK ? 'v-ok' : ''}">${c.OK}</td><td class="${
          c['NON-STRICT'] ? 'v-non-strict' : ''
        }">${c['NON-STRICT']}</td><td class="${c.FAILED ? 'v-failed' : ''}">${c.FAILED}</td><td>${c.INFORMATIONAL}</td></tr>`,
    )
    .join('\n');
  const caseRows = report.cases
    .map((r) => {
      const sub = r.id.split('.').slice(0, 2).join('.');
      const subTitle = UTF8_SUBCATEGORIES[sub] ?? PMD_SUBCATEGORIES[sub];
      const title = subTitle ? `${subTitle} — ` : '';
      return `<tr id="case-${esc(r.id)}"><td class="id">${esc(r.id)}</td><td class="${cls(r.verdict)}">${esc(r.verdict)}</td><td class="${cls(
        r.behaviorClose,
      )}">${esc(r.behaviorClose)}</td><td>${r.closeCode ?? '–'}</td><td>${r.durationMs}</td><td>${esc(r.closedBy ?? '–')}</td><td>${esc(
        r.tcpDroppedBy ?? '–',
      )}</td><td><details><summary>${esc(title + r.description)}</summary><p><b>Expectation:</b> ${esc(r.expectation)}</p><p><b>Result:</b> ${esc(
        r.result,
      )}<br><b>Close:</b> ${esc(r.resultClose)}${r.violation ? `<br><b>Violation:</b> ${esc(r.violation)}` : ''}</p><p><b>Received:</b> ${esc(
        r.received.join(' | ') || 'nothing',
      )}</p><pre>${esc(r.wirelog.slice(0, 80).join('\n'))}</pre></details>${r.reason ? `<div class="reason">${esc(r.reason)}</div>` : ''}</td></tr>`;
    })
    .join('\n');
  const s = report.summary;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>WebSocket ${report.role ?? 'server'} conformance: ${esc(report.agent)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;font-size:14px}
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top;text-align:left}
th{background:#eee}.id{white-space:nowrap;font-family:monospace}
.v-ok{background:#0a0;color:#fff}.v-non-strict,.v-wrong-code,.v-failed-by-client{background:#f90;color:#000}
.v-failed,.v-unclean{background:#d00;color:#fff}.v-informational{background:#69c;color:#fff}
.reason{color:#a00;font-size:12px}pre{font-size:11px;max-height:20em;overflow:auto;background:#f6f6f6}
</style></head><body>
<h1>WebSocket ${report.role ?? 'server'} conformance: ${esc(report.agent)}</h1>
<p>Target <code>${esc(report.url)}</code>, started ${esc(report.startedAt)}, ${(report.durationMs / 1000).toFixed(1)} s,
per-case budget ${report.timeoutMs} ms. <b>${s.total}</b> cases: <span class="v-ok">&nbsp;${s.OK} OK&nbsp;</span>
<span class="v-non-strict">&nbsp;${s['NON-STRICT']} NON-STRICT&nbsp;</span> <span class="v-failed">&nbsp;${s.FAILED} FAILED&nbsp;</span>
<span class="v-informational">&nbsp;${s.INFORMATIONAL} INFORMATIONAL&nbsp;</span></p>
<table><tr><th>#</th><th>Category</th><th>Cases</th><th>OK</th><th>NON-STRICT</th><th>FAILED</th><th>INFO</th></tr>
${catRows}</table>
<table><tr><th>Case</th><th>Verdict</th><th>Close behaviour</th><th>Close code</th><th>ms</th><th>Closed by</th><th>TCP dropped by</th><th>Description</th></tr>
${caseRows}</table>
</body></html>
`;
}

/** Write `index.json` and `index.html` into `dir` (created if needed). */
export function writeReports(report: Report, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(report, null, 2));
  fs.writeFileSync(path.join(dir, 'index.html'), renderHtml(report));
}

/** Exit code for a report: 1 if any case is FAILED or NON-STRICT, else 0. */
export function exitCodeFor(report: Report): number {
  return report.summary.FAILED > 0 || report.summary['NON-STRICT'] > 0 ? 1 : 0;
}

/** CLI: print a role's report (and where it was written); returns the exit code. */
export function printReport(report: Report, reportDir: string | null): number {
  console.log('');
  console.log(formatReport(report));
  if (reportDir) console.log(`\nReports written to ${path.resolve(reportDir)}/index.{json,html}`);
  return exitCodeFor(report);
}

/** CLI: run `main` and exit with its code (2 on an unexpected error). */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.stack : e);
      process.exit(2);
    },
  );
}

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

const USAGE = `usage: node -r ts-node/register/transpile-only autobahn/conformance/run-server-tests.ts --url ws://127.0.0.1:PORT
       [--cases 1.*,2.*,!9.*] [--report-dir reports/conformance/server] [--agent NAME]
       [--timeout MS] [--verbose] [--list] [--no-report]`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.list) {
    for (const c of selectCases(typeof args.cases === 'string' ? args.cases : undefined)) console.log(`${c.id.padEnd(9)} ${c.description}`);
    return 0;
  }
  if (typeof args.url !== 'string') {
    console.error(USAGE);
    return 2;
  }
  const reportDir = args['no-report'] ? null : typeof args['report-dir'] === 'string' ? args['report-dir'] : 'reports/conformance/server';
  const report = await runServerSuite({
    url: args.url,
    cases: typeof args.cases === 'string' ? args.cases : undefined,
    reportDir,
    agent: typeof args.agent === 'string' ? args.agent : undefined,
    timeoutMs: typeof args.timeout === 'string' ? Number(args.timeout) : undefined,
    verbose: args.verbose === true,
    log: (l) => console.log(l),
  });
  return printReport(report, reportDir);
}

if (require.main === module) runMain(main);

export { ALL_CASES, selectCases, buildFrame };
