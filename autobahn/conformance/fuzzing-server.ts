/**
 * Autobahn-style **fuzzing server**: grades a WebSocket *client* under test.
 *
 * Convention (Autobahn|Testsuite `wstest -m fuzzingserver`):
 * - `GET /getCaseCount`: one text message with the number of cases, then close 1000;
 * - `GET /runCase?case=N&agent=A`: plays case N (1-based) as the server: sends
 *   hand-built, unmasked frames (invalid ones included) and grades what the
 *   client does; the client is expected to echo every message;
 * - `GET /updateReports?agent=A`: writes `index.json` / `index.html` for agent A.
 *
 * Raw `node:net`, no HTTP library: the handshake cases (0.x) need invalid
 * responses. Imports nothing from `lib/`.
 *
 * ```
 * node -r ts-node/register/transpile-only autobahn/conformance/fuzzing-server.ts --port 9001 [--cases 1.*,2.*] [--report-dir reports/conformance/client]
 * ```
 *
 * @packageDocumentation
 */

import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Behavior } from './cases';
import { describeEvent, driveCase, gradeCloseHandshake, gradeEvents } from './case-driver';
import { ALL_CLIENT_CASES, ClientCase, ClientRequest, selectClientCases } from './client-cases';
import { Opcode, acceptKey, buildFrame } from './frames';
import { CaseResult, CloseBehavior, Report, Verdict, combineVerdict, summarize, writeReports } from './run-server-tests';
import { FuzzingServerSession } from './server-session';
import { PmdParams, createPmdState, formatExtension, parseExtensions, parsePmdResponse } from './pmd';

/** What a client driver may report about one case (in-process clients). */
export interface ClientOutcome {
  /** The client considered the connection open. */
  opened: boolean;
  /** How the client's connection ended with an error, if it did. */
  error?: { name: string; message: string };
}

/** Options for {@link startFuzzingServer}. */
export interface FuzzingServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Case selection (patterns, see `selectCases`). Default: all client cases. */
  cases?: string | string[];
  /** Explicit case list (overrides `cases`). */
  caseList?: readonly ClientCase[];
  /** Where `/updateReports` writes (`null`: nowhere). Default `reports/conformance/client`. */
  reportDir?: string | null;
  /** Default per-case time budget in ms. Default 5000. */
  timeoutMs?: number;
  /** Log sink. */
  log?: (line: string) => void;
}

/** A running fuzzing server. */
export interface FuzzingServer {
  readonly url: string;
  readonly port: number;
  readonly cases: readonly ClientCase[];
  /** Results per agent, by 1-based case number. */
  readonly results: Map<string, Map<number, CaseResult>>;
  /** Resolves with the result of case `n` for `agent` once graded. */
  caseDone(agent: string, n: number): Promise<CaseResult>;
  /** Attach a client-side outcome to case `n` (before or after it is graded) and re-grade. */
  reportOutcome(agent: string, n: number, check: string | null): void;
  /** Build the report for an agent (and write it if `reportDir` is set). */
  report(agent: string, write?: boolean): Report;
  close(): Promise<void>;
}

const MAX_HEAD = 16 * 1024;

function parseRequest(head: string): ClientRequest | null {
  const lines = head.split('\r\n');
  const m = /^(\S+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return null;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { method: m[1], target: m[2], version: m[3], headers, head };
}

/** RFC 6455 4.1: what is wrong with a client's opening handshake request (null: nothing). */
export function checkClientRequest(r: ClientRequest): string | null {
  if (r.method !== 'GET') return `method ${r.method}, expected GET`;
  if (r.version !== 'HTTP/1.1') return `${r.version}, expected HTTP/1.1`;
  if (!r.headers['host']) return 'no Host header';
  if ((r.headers['upgrade'] ?? '').toLowerCase() !== 'websocket') return `Upgrade: ${r.headers['upgrade'] ?? '(missing)'}`;
  if (!(r.headers['connection'] ?? '').toLowerCase().split(',').map((s) => s.trim()).includes('upgrade')) return `Connection: ${r.headers['connection'] ?? '(missing)'}`;
  const key = r.headers['sec-websocket-key'] ?? '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key) || Buffer.from(key, 'base64').length !== 16) return `Sec-WebSocket-Key "${key}" is not 16 base64-encoded bytes`;
  if (r.headers['sec-websocket-version'] !== '13') return `Sec-WebSocket-Version: ${r.headers['sec-websocket-version'] ?? '(missing)'}`;
  return null;
}

/** Write the handshake response (optionally chopped), then `trailing` in the same write. */
async function writeHead(sock: net.Socket, head: string, chop?: number, trailing?: Buffer): Promise<void> {
  const data = Buffer.concat([Buffer.from(head, 'latin1'), trailing ?? Buffer.alloc(0)]);
  if (!chop) {
    sock.write(data);
    return;
  }
  for (let off = 0; off < data.length; off += chop) {
    if (sock.destroyed) return;
    sock.write(data.subarray(off, off + chop));
    await new Promise((r) => setImmediate(r));
  }
}

/** Grade a handshake-failure case (0.1.x): the client must close TCP and send nothing. */
async function runFailHandshake(c: ClientCase, sock: net.Socket, req: ClientRequest, budget: number): Promise<Partial<CaseResult>> {
  const spec = c.serverHandshake!;
  const wirelog: string[] = [];
  const t0 = performance.now();
  const log = (m: string): void => void wirelog.push(`${String(Math.round(performance.now() - t0)).padStart(5)}ms ${m}`);
  let extra = Buffer.alloc(0);
  let clientClosed = false;
  let reset = false;
  const closed = new Promise<void>((resolve) => {
    sock.on('data', (d: Buffer) => {
      extra = Buffer.concat([extra, d]);
      log(`RX ${d.length} bytes after the response: 0x${d.subarray(0, 24).toString('hex')}`);
    });
    sock.on('end', () => {
      clientClosed = true;
      log('RX FIN (client closed TCP)');
      sock.end();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      log(`socket error ${e.code ?? e.message}`);
      if (e.code === 'ECONNRESET') reset = clientClosed = true;
    });
    sock.on('close', () => resolve());
  });
  const head = spec.response(req);
  log(`TX response: ${head.split('\r\n')[0]} (${head.split('\r\n').length - 2} header lines)`);
  await writeHead(sock, head, spec.chop);
  // A probe: a client that accepted the handshake would echo this.
  sock.write(buildFrame({ opcode: Opcode.TEXT, payload: 'echo me if you accepted the handshake', mask: false }), () => undefined);
  const wait = Math.min(2000, budget - 500);
  const timer = setTimeout(() => {
    log(`client did not close TCP within ${wait} ms`);
    sock.destroy();
  }, wait);
  await closed;
  clearTimeout(timer);
  let behavior: Behavior = 'OK';
  let result = `The client failed the connection (${reset ? 'TCP reset' : 'closed TCP'}) and sent nothing.`;
  if (extra.length > 0) {
    behavior = 'FAILED';
    result = `The client accepted the invalid handshake: it sent ${extra.length} bytes after the response (0x${extra.subarray(0, 16).toString('hex')}).`;
  } else if (!clientClosed) {
    behavior = 'FAILED';
    result = `The client did not fail the connection: TCP still open ${wait} ms after the invalid response.`;
  }
  return { behavior, result, behaviorClose: 'OK', resultClose: 'n/a (handshake failure case)', wirelog, tcpDroppedBy: clientClosed ? 'client' : 'server' };
}

interface CaseState {
  result: CaseResult | null;
  waiters: Array<(r: CaseResult) => void>;
  outcome?: string | null;
}

/**
 * Run one data case on an upgraded connection and grade it as Autobahn's
 * fuzzingserver does (`case.py::Case.onConnectionLost`), plus the TCP-close
 * rule for clients (FAILED BY CLIENT when the client closed TCP first).
 */
async function runDataCase(c: ClientCase, s: FuzzingServerSession, budget: number): Promise<Partial<CaseResult> & { behavior: Behavior; behaviorClose: CloseBehavior }> {
  const clamp = (ms: number): number => Math.max(0, Math.min(ms, budget - 2 * s.timeouts.closeHandshakeMs - 500));
  let hardTimedOut = false;
  const hard = setTimeout(() => {
    hardTimedOut = true;
    s.log(`hard case timeout (${budget} ms)`);
    s.closeTcp('hard case timeout', false);
  }, budget);
  const { outcome, finishWhenDone, exec } = driveCase(c, s, budget, clamp);
  s.tcpCloseDelayMs = c.tcpCloseDelayMs ?? 0;
  try {
    // A frame sent with the 101 (0.2.3) may already have been answered.
    finishWhenDone();
    // permessage-deflate case without an agreement: not run (Autobahn: UNIMPLEMENTED).
    if (c.deflate && !s.pmd) s.sendClose(1000);
    else for (const a of c.actions) {
      if (s.state === 'closed') break;
      if (!(await exec(a))) break;
    }
    await s.lost;
  } catch (e) {
    s.log(`runner error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    s.closeTcp('runner error', false);
    await s.lost;
    outcome.behavior = 'FAILED';
    outcome.result = `runner error: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    clearTimeout(hard);
  }

  gradeEvents(c, s.received, outcome, (note) => note.replace(/server/g, 'client'));
  let { behavior, result } = outcome;
  let behaviorClose: CloseBehavior = 'OK';
  let resultClose = 'Connection was properly closed';
  const ec = c.expectedClose;
  if (ec) {
    const closeGrade = gradeCloseHandshake(ec, s, 'client');
    if (closeGrade) ({ behaviorClose, resultClose } = closeGrade);
    else if (s.clientClosedTcpFirst && !s.clientClosedTcpEarly) {
      behaviorClose = 'FAILED BY CLIENT';
      resultClose = `It is preferred that the server close the TCP connection: the client closed it first (${s.clientReset ? 'reset' : 'FIN'}) after the closing handshake instead of waiting for the server (RFC 6455 7.1.1)`;
    }
    if (ec.closedByWrongEndpointIsFatal && ec.closedByMe !== s.closedByMe) {
      behavior = 'FAILED';
      result = 'The client did not fail the connection (closed by the wrong endpoint): invalid UTF-8 was not detected';
    }
  }
  if (c.wrongCodeIsFatal && behaviorClose === 'WRONG CODE') {
    behavior = 'FAILED';
    result = resultClose;
  }
  if (c.deflate && !s.pmd) {
    behavior = 'INFORMATIONAL';
    behaviorClose = 'INFORMATIONAL';
    result = `UNIMPLEMENTED: no permessage-deflate agreed (${s.pmdDeclined ?? 'the client did not offer it'}); the case was not run.`;
  }
  if (c.informational) {
    const recv = s.received.map(describeEvent).join(', ') || 'nothing';
    result = `Implementation-defined outcome. Received: ${recv}; close ${s.remoteCloseCode ?? 'none'}; ${resultClose}.`;
    behavior = 'INFORMATIONAL';
    behaviorClose = 'INFORMATIONAL';
  }
  if (s.violation) {
    behavior = 'FAILED';
    result = `Client protocol violation: ${s.violation}`;
  }
  if (hardTimedOut) {
    behavior = 'FAILED';
    result = `Case did not finish within its ${budget} ms budget (client hung?)`;
  }
  const expected: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(c.expected ?? {})) if (v) expected[k] = v.map(describeEvent);
  return {
    behavior,
    behaviorClose,
    result,
    resultClose,
    closeCode: s.remoteCloseCode,
    closeReason: s.remoteCloseReason,
    closedBy: s.closeFrameSent && s.closedByMe ? 'server' : s.clientSentClose ? 'client' : null,
    closeAnswered: s.closeFrameSent && s.closedByMe ? s.clientSentClose : s.clientSentClose ? s.closeFrameSent : null,
    serverSentClose: s.closeFrameSent,
    tcpDroppedBy: s.clientClosedTcpFirst ? 'client' : 'server',
    wasClean: s.wasClean,
    wasNotCleanReason: s.wasNotCleanReason,
    violation: s.violation,
    received: s.received.map(describeEvent),
    expected,
    wirelog: s.wirelog,
  };
}

function finalize(c: ClientCase, partial: Partial<CaseResult>, durationMs: number, outcome: string | null | undefined): CaseResult {
  let behavior = (partial.behavior ?? 'FAILED') as Behavior;
  let result = partial.result ?? '';
  const behaviorClose = (partial.behaviorClose ?? 'OK') as CloseBehavior;
  if (outcome) {
    behavior = 'FAILED';
    result = `${result} Client-side check: ${outcome}`;
  }
  const isHandshakeFail = c.serverHandshake?.expect === 'fail';
  const verdict: Verdict = isHandshakeFail ? (behavior as Verdict) : combineVerdict(behavior, behaviorClose);
  let reason = '';
  if (verdict !== 'OK') {
    if (verdict === 'INFORMATIONAL') reason = result;
    else if (verdict === 'FAILED') reason = behavior === 'FAILED' ? result : `close behaviour ${behaviorClose}: ${partial.resultClose}`;
    else
      reason =
        behavior === 'NON-STRICT'
          ? result === 'Actual events match at least one expected.'
            ? 'events match the NON-STRICT expectation'
            : result
          : `close behaviour ${behaviorClose}: ${partial.resultClose}`;
  }
  return {
    id: c.id,
    category: c.id.split('.')[0],
    description: c.description,
    expectation: c.expectation,
    verdict,
    behavior,
    behaviorClose,
    result,
    resultClose: partial.resultClose ?? '',
    reason,
    durationMs,
    closeCode: partial.closeCode ?? null,
    closeReason: partial.closeReason ?? null,
    closedBy: partial.closedBy ?? null,
    closeAnswered: partial.closeAnswered ?? null,
    serverSentClose: partial.serverSentClose ?? false,
    tcpDroppedBy: partial.tcpDroppedBy ?? null,
    wasClean: partial.wasClean ?? false,
    wasNotCleanReason: partial.wasNotCleanReason ?? null,
    violation: partial.violation ?? null,
    httpStatus: partial.httpStatus ?? null,
    received: partial.received ?? [],
    expected: partial.expected ?? {},
    wirelog: verdict === 'OK' ? (partial.wirelog ?? []).slice(0, 30) : (partial.wirelog ?? []),
  };
}

/** Start a fuzzing server on a loopback port. */
export function startFuzzingServer(opts: FuzzingServerOptions = {}): Promise<FuzzingServer> {
  const host = opts.host ?? '127.0.0.1';
  const list = opts.caseList ?? selectClientCases(opts.cases);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const reportDir = opts.reportDir === undefined ? 'reports/conformance/client' : opts.reportDir;
  const log = opts.log ?? ((): void => undefined);
  const results = new Map<string, Map<number, CaseResult>>();
  const states = new Map<string, CaseState>();
  const started = new Date();
  const sockets = new Set<net.Socket>();
  const stateOf = (agent: string, n: number): CaseState => {
    const k = `${agent}\u0000${n}`;
    let st = states.get(k);
    if (!st) states.set(k, (st = { result: null, waiters: [] }));
    return st;
  };
  const publish = (agent: string, n: number, r: CaseResult): void => {
    let m = results.get(agent);
    if (!m) results.set(agent, (m = new Map()));
    m.set(n, r);
    const st = stateOf(agent, n);
    st.result = r;
    for (const w of st.waiters.splice(0)) w(r);
  };

  const buildReport = (agent: string, write: boolean, url: string): Report => {
    const m = results.get(agent) ?? new Map<number, CaseResult>();
    const cases = [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
    const { summary, categories } = summarize(cases);
    const report: Report = {
      agent,
      url,
      role: 'client',
      startedAt: started.toISOString(),
      durationMs: cases.reduce((t, r) => t + r.durationMs, 0),
      timeoutMs,
      summary,
      categories,
      cases,
    };
    if (write && reportDir) writeReports(report, reportDir);
    return report;
  };

  /** Complete a valid handshake for utility endpoints, send `text` (if any), close 1000. */
  const utility = (sock: net.Socket, req: ClientRequest, text: string | null): void => {
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'] ?? '')}\r\n\r\n`);
    const s = new FuzzingServerSession(sock);
    if (text !== null) void s.sendFrame({ opcode: Opcode.TEXT, payload: text });
    s.sendClose(1000);
  };

  const handle = async (sock: net.Socket, req: ClientRequest, url: string): Promise<void> => {
    const u = new URL(req.target, 'http://x');
    const problem = checkClientRequest(req);
    if (u.pathname === '/getCaseCount' || u.pathname === '/updateReports') {
      if (problem) {
        sock.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      if (u.pathname === '/getCaseCount') utility(sock, req, String(list.length));
      else {
        const agent = u.searchParams.get('agent') ?? 'unknown';
        const r = buildReport(agent, true, url);
        log(`reports for ${agent} updated (${r.cases.length} cases)${reportDir ? ` in ${path.resolve(reportDir)}` : ''}`);
        utility(sock, req, null);
      }
      return;
    }
    if (u.pathname !== '/runCase') {
      sock.end(`HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const n = Number(u.searchParams.get('case'));
    const agent = u.searchParams.get('agent') ?? 'unknown';
    const c = list[n - 1];
    if (!Number.isInteger(n) || !c) {
      sock.end(`HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const budget = Math.max(timeoutMs, c.minTimeoutMs ?? 0);
    const t0 = performance.now();
    let partial: Partial<CaseResult>;
    if (problem) {
      sock.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      partial = { behavior: 'FAILED', result: `The client sent an invalid opening handshake: ${problem}`, behaviorClose: 'FAILED', resultClose: 'n/a' };
    } else if (c.serverHandshake?.expect === 'fail') {
      partial = await runFailHandshake(c, sock, req, budget);
      partial.httpStatus = Number(/^HTTP\/\d\.\d (\d+)/.exec(c.serverHandshake.response(req))?.[1] ?? 0);
    } else {
      const hs = c.serverHandshake;
      const s = new FuzzingServerSession(sock);
      s.log(`RX handshake: ${req.head.split('\r\n')[0]}`);
      let extHeader = '';
      if (c.deflate) {
        // Answer the client's permessage-deflate offers with the case's accept policy (RFC 7692 5, 7.1).
        const offered = req.headers['sec-websocket-extensions'];
        const offers = (parseExtensions(offered) ?? []).filter((e) => e.name.toLowerCase() === 'permessage-deflate');
        s.log(`client offers: ${offered ?? '(none)'}`);
        const el = offers.length ? c.deflate.accept(offers) : null;
        if (el) {
          const agreed = formatExtension(el);
          extHeader = `Sec-WebSocket-Extensions: ${agreed}\r\n`;
          s.pmd = createPmdState(parsePmdResponse(el, offers) as PmdParams, 'server', agreed);
          s.log(`permessage-deflate agreed: ${agreed}`);
        } else s.pmdDeclined = offers.length ? `no offer acceptable to this case's accept policy: ${offered}` : 'the client did not offer permessage-deflate';
      }
      await writeHead(sock, hs ? hs.response(req) : `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'] ?? '')}\r\n${extHeader}\r\n`, hs?.chop, hs?.trailing);
      if (hs?.trailing) s.log(`TX ${hs.trailing.length} frame bytes in the same write as the response`);
      partial = await runDataCase(c, s, budget);
      partial.httpStatus = 101;
    }
    const st = stateOf(agent, n);
    publish(agent, n, finalize(c, partial, Math.round(performance.now() - t0), st.outcome));
    (st as CaseState & { partial?: Partial<CaseResult> }).partial = partial;
  };

  return new Promise((resolve, reject) => {
    let url = '';
    const server = net.createServer({ allowHalfOpen: true }, (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.setNoDelay(true);
      let head = Buffer.alloc(0);
      const hsTimer = setTimeout(() => sock.destroy(), 5000);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD) {
            clearTimeout(hsTimer);
            sock.destroy();
          }
          return;
        }
        clearTimeout(hsTimer);
        sock.off('data', onData);
        sock.pause();
        const req = parseRequest(head.subarray(0, end).toString('latin1'));
        const rest = head.subarray(end + 4);
        if (!req) {
          sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          return;
        }
        if (rest.length) sock.unshift(rest);
        void handle(sock, req, url).catch((e) => {
          log(`fuzzing server error: ${e instanceof Error ? e.stack : String(e)}`);
          sock.destroy();
        });
        sock.resume();
      };
      sock.on('data', onData);
      sock.on('error', () => undefined);
    });
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      url = `ws://${host}:${port}`;
      resolve({
        url,
        port,
        cases: list,
        results,
        caseDone: (agent, n) => {
          const st = stateOf(agent, n);
          return st.result ? Promise.resolve(st.result) : new Promise((r) => st.waiters.push(r));
        },
        reportOutcome: (agent, n, check) => {
          const st = stateOf(agent, n) as CaseState & { partial?: Partial<CaseResult> };
          st.outcome = check;
          if (st.result && st.partial && check) {
            const r = finalize(list[n - 1], st.partial, st.result.durationMs, check);
            results.get(agent)?.set(n, r);
            st.result = r;
          }
        },
        report: (agent, write = true) => buildReport(agent, write, url),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export { ALL_CLIENT_CASES };

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  startFuzzingServer({
    port: Number(arg('port') ?? 9001),
    host: arg('host') ?? '127.0.0.1',
    cases: arg('cases'),
    reportDir: process.argv.includes('--no-report') ? null : (arg('report-dir') ?? 'reports/conformance/client'),
    timeoutMs: arg('timeout') ? Number(arg('timeout')) : undefined,
    log: (l) => console.log(l),
  }).then((s) => console.log(`fuzzing server (${s.cases.length} cases) listening on ${s.url}`));
}
