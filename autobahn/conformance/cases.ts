/**
 * Conformance cases for a WebSocket **server** under test, modelled on
 * Autobahn|Testsuite (crossbario/autobahn-testsuite,
 * `autobahntestsuite/autobahntestsuite/case/*.py`). Ids, payloads, the
 * sequence of frames/chops/waits and the expected outcomes follow the Python
 * cases; deviations are marked `DEVIATION` in the description and listed in
 * README.md.
 *
 * A case is data: a list of {@link Action}s executed in order on a fresh
 * connection, plus Autobahn-style expectations: `expected` (the exact event
 * sequence for OK and, optionally, NON-STRICT) and `expectedClose` (who must
 * start the closing handshake, acceptable close codes, whether a clean close is
 * required).
 *
 * @packageDocumentation
 */

import { Bytes, FrameSpec, Opcode, Utf8Validator, buildFrame, fragmentMessage, hex, repeatToLength, toBuffer } from './frames';
import type { HttpResponse, ReceivedEvent } from './session';
import { AcceptPolicy, ExtensionElement, PmdState, autobahnAccept, autobahnOffer, describeOffers, firstAccept } from './pmd';
import { PMD_DATA_SETS, PmdDataSet } from './pmd-data';

/** Autobahn behaviour values for the message/event part of a case. */
export type Behavior = 'OK' | 'NON-STRICT' | 'FAILED' | 'INFORMATIONAL';

/** Autobahn's `expectedClose`. */
export interface ExpectedClose {
  /** True iff the client (this suite) is expected to start the closing handshake. */
  closedByMe: boolean;
  /** Acceptable close codes from the server (an empty close payload is always accepted, as in Autobahn). */
  closeCode: number[];
  /** True iff the close handshake must complete and the server must drop TCP. */
  requireClean: boolean;
  /** UTF-8 cases: if the wrong endpoint closed, the case fails (the server did not detect the error). */
  closedByWrongEndpointIsFatal?: boolean;
}

/**
 * The connection a case drives: the suite's client connection (server role,
 * `ClientSession`) or the fuzzing server's side of a connection (client role,
 * `FuzzingServerSession`). Frames are masked by the former and not by the latter.
 */
export interface CaseSession {
  /** True if frames this side sends are masked (client side). */
  readonly masksFrames: boolean;
  /** Append to the wire log. */
  log(msg: string): void;
  /** Write raw bytes now. */
  write(data: Buffer): void;
  /** Autobahn `sendFrame` (the session applies its own masking rule unless `spec.mask` is set). */
  sendFrame(spec: FrameSpec, opts?: { chop?: number; sync?: boolean }): Promise<void>;
  /** Autobahn `sendClose`. */
  sendClose(code?: number, reason?: Bytes): void;
  /** permessage-deflate state, when negotiated (12.x/13.x). */
  readonly pmd: PmdState | null;
}

/** What a case's actions and hooks can do. */
export interface CaseContext {
  readonly session: CaseSession;
  /**
   * Autobahn `continueLater`: wait `ms`. With a `tag`, the wait only "succeeds"
   * if the connection is still open, in which case `("timeout", tag)` is
   * recorded. Returns false when the case's remaining actions must be skipped.
   */
  wait(ms: number, tag?: string): Promise<boolean>;
  /** Set the event-behaviour verdict and its text (custom-graded cases, e.g. 9.x). */
  setResult(behavior: Behavior, text: string): void;
  /** Per-run scratch space. */
  readonly scratch: Record<string, unknown>;
  /** Effective per-case time budget in ms (timers are clamped below it). */
  readonly budgetMs: number;
}

/** One step of a case. */
export type Action =
  /** Autobahn `sendFrame` (optionally chopped into `chop`-octet writes, or written `sync`). */
  | { do: 'send'; frame: FrameSpec; chop?: number; sync?: boolean }
  /** Autobahn `sendMessage` (split into frames of `fragmentSize` octets). */
  | { do: 'sendMessage'; opcode: number; payload: Bytes; fragmentSize?: number }
  /** Autobahn `continueLater` (see {@link CaseContext.wait}). */
  | { do: 'wait'; ms: number; tag?: string }
  /** Autobahn `sendClose`: start closing handshake (only if open). */
  | { do: 'close'; code?: number; reason?: Bytes }
  /** Autobahn `sendCloseFrame`: raw close payload: any code (even invalid), any reason bytes. */
  | { do: 'closeFrame'; code?: number; reason?: Bytes }
  /** Autobahn `killAfter`: after `ms`, fail the connection (close 1001, then drop). */
  | { do: 'killAfter'; ms: number }
  /** Autobahn `closeAfter`: after `ms`, send a close frame (if still open). */
  | { do: 'closeAfter'; ms: number }
  /** Arbitrary step. */
  | { do: 'custom'; run: (ctx: CaseContext) => void | Promise<void> };

/** Handshake-level case (category 0). */
export interface HandshakeSpec {
  /** Build the raw HTTP request (key is a fresh valid key, host is "127.0.0.1:port"). */
  request: (key: string, host: string, path: string) => string;
  /** Write the request in chops of this many bytes. */
  chop?: number;
  /**
   * `'upgrade'`: the server must accept (101, validated); then the case's actions run.
   * A function: the server must reject; grade the HTTP response.
   */
  expect: 'upgrade' | ((resp: HttpResponse) => { behavior: Behavior; result: string });
}

/** A conformance case. */
export interface ConformanceCase {
  /** Autobahn-style id, e.g. "1.1.1". */
  id: string;
  description: string;
  expectation: string;
  /** Expected event sequences (Autobahn `self.expected`). Omit for custom-graded cases. */
  expected?: Partial<Record<'OK' | 'NON-STRICT', ReceivedEvent[]>>;
  /** Expected closing behaviour (omit only for handshake-rejection cases). */
  expectedClose?: ExpectedClose;
  /** Do not auto-close when the expected events have arrived (Autobahn `suppressClose`). */
  suppressClose?: boolean;
  /** Steps, executed in order. */
  actions: Action[];
  /** 7.x: a wrong close code fails the case (Autobahn maps WRONG_CODE -> FAILED there). */
  wrongCodeIsFatal?: boolean;
  /** Human explanation shown when the NON-STRICT expectation matched. */
  nonStrictNote?: string;
  /** Outcome is implementation-defined; verdict is INFORMATIONAL unless the server violates the protocol. */
  informational?: boolean;
  /** Custom message handler (replaces `expected` matching, e.g. 9.x). */
  onMessage?: (ev: Extract<ReceivedEvent, { kind: 'message' }>, ctx: CaseContext) => void;
  /** Initial behaviour/result for custom-graded cases (Autobahn 9.x start FAILED). */
  initial?: { behavior: Behavior; result: string };
  /** Handshake case. */
  handshake?: HandshakeSpec;
  /** Minimum time budget for this case (ms), if it needs more than the default per-case timeout. */
  minTimeoutMs?: number;
  /**
   * permessage-deflate case (12.x/13.x). Server role: the suite offers `offers`
   * and checks the response; client role: the fuzzing server answers the
   * client's offers with `accept`. When nothing is agreed the case is not run
   * (INFORMATIONAL, Autobahn's UNIMPLEMENTED).
   */
  deflate?: { offers: ExtensionElement[]; accept: AcceptPolicy };
}

/** Category names (Autobahn `CaseCategories`). */
export const CATEGORIES: Record<string, string> = {
  '0': 'Handshake',
  '1': 'Framing',
  '2': 'Pings/Pongs',
  '3': 'Reserved Bits',
  '4': 'Opcodes',
  '5': 'Fragmentation',
  '6': 'UTF-8 Handling',
  '7': 'Close Handling',
  '9': 'Limits/Performance',
  '10': 'Misc',
  '12': 'Compression (payloads)',
  '13': 'Compression (parameters)',
};

// --- helpers ------------------------------------------------------------------

const NORMAL = 1000;
const GOING_AWAY = 1001;
const PROTOCOL_ERROR = 1002;
const INVALID_PAYLOAD = 1007;

/** Expected text message event. */
export const text = (p: Bytes): ReceivedEvent => ({ kind: 'message', binary: false, payload: toBuffer(p) });
/** Expected binary message event. */
export const binary = (p: Bytes): ReceivedEvent => ({ kind: 'message', binary: true, payload: toBuffer(p) });
/** Expected pong event. */
export const pong = (p: Bytes = ''): ReceivedEvent => ({ kind: 'pong', payload: toBuffer(p) });
/** Expected timeout marker. */
export const timeout = (tag: string): ReceivedEvent => ({ kind: 'timeout', tag });

const send = (opcode: number, payload?: Bytes, o: { fin?: boolean; rsv?: number; chop?: number; sync?: boolean } = {}): Action => ({
  do: 'send',
  frame: { opcode, payload, fin: o.fin, rsv: o.rsv },
  chop: o.chop,
  sync: o.sync,
});
const killAfter = (ms: number): Action => ({ do: 'killAfter', ms });
const closeAfter = (ms: number): Action => ({ do: 'closeAfter', ms });
const wait = (ms: number, tag?: string): Action => ({ do: 'wait', ms, tag });

/** Clean close started by us with 1000 (the normal echo case). */
const CLEAN_NORMAL: ExpectedClose = { closedByMe: true, closeCode: [NORMAL], requireClean: true };
/** Server must fail the connection with 1002 (close frame or TCP drop). */
const FAIL_PROTOCOL: ExpectedClose = { closedByMe: false, closeCode: [PROTOCOL_ERROR], requireClean: false };
/** Server must fail the connection with 1007; closing by the wrong endpoint fails the case. */
const FAIL_UTF8: ExpectedClose = { closedByMe: false, closeCode: [INVALID_PAYLOAD], requireClean: false, closedByWrongEndpointIsFatal: true };

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => {
  cases.push(c);
};

// --- 0: Handshake (not in Autobahn; ids prefixed "0.") --------------------------

type RequestFn = HandshakeSpec['request'];
type Grader = Exclude<HandshakeSpec['expect'], 'upgrade'>;

function reqLines(lines: string[]): string {
  return lines.join('\r\n') + '\r\n\r\n';
}
/** A request template: in each line `{k}`, `{h}` and `{p}` become the key, the host and the path. */
const request =
  (...lines: string[]): RequestFn =>
  (k, h, p) =>
    reqLines(lines.map((l) => l.replace(/\{([khp])\}/g, (_m, v: string) => (v === 'k' ? k : v === 'h' ? h : p))));
// The lines of the canonical request.
const GET = 'GET {p} HTTP/1.1';
const HOST = 'Host: {h}';
const UPGRADE = 'Upgrade: websocket';
const CONNECTION = 'Connection: Upgrade';
const KEY = 'Sec-WebSocket-Key: {k}';
const V13 = 'Sec-WebSocket-Version: 13';
const canonical = request(GET, HOST, UPGRADE, CONNECTION, KEY, V13);

/** Grade a rejected handshake: `ok` statuses are strict, other 4xx non-strict, 101 / others fail. */
function rejectWith(ok: number[], extra?: (r: HttpResponse) => string | null): Grader {
  return (r) => {
    if (r.statusCode === 101) return { behavior: 'FAILED', result: `server accepted the invalid handshake (${r.statusLine})` };
    const problem = extra ? extra(r) : null;
    if (problem) return { behavior: 'FAILED', result: `${r.statusLine}: ${problem}` };
    if (ok.includes(r.statusCode)) return { behavior: 'OK', result: `rejected with "${r.statusLine}"` };
    if (r.statusCode >= 400 && r.statusCode < 500)
      return { behavior: 'NON-STRICT', result: `rejected with "${r.statusLine}", expected ${ok.join(' or ')}` };
    return { behavior: 'FAILED', result: `unexpected response "${r.statusLine}", expected ${ok.join(' or ')}` };
  };
}
const versionHeader = (r: HttpResponse): string | null => {
  const v = r.headers['sec-websocket-version'];
  if (v === undefined) return 'missing Sec-WebSocket-Version response header (RFC 6455 4.4 MUST)';
  return v.split(',').map((s) => s.trim()).includes('13') ? null : `Sec-WebSocket-Version "${v}" does not list 13`;
};
/** 0.3.1: a hybi-08 request may be accepted (INFORMATIONAL); a rejection must be 4xx and list version 13. */
const rejectOrAcceptHybi08: Grader = (r) => {
  if (r.statusCode === 101) return { behavior: 'INFORMATIONAL', result: 'server accepted version 8 (it claims to understand hybi-08)' };
  if (r.statusCode < 400 || r.statusCode >= 500) return { behavior: 'FAILED', result: `unexpected response "${r.statusLine}"` };
  const problem = versionHeader(r);
  if (problem) return { behavior: 'FAILED', result: `${r.statusLine}: ${problem}` };
  return { behavior: 'OK', result: `rejected with "${r.statusLine}", Sec-WebSocket-Version: ${r.headers['sec-websocket-version']}` };
};
const echoHello: Action[] = [send(Opcode.TEXT, 'Hello, handshake!'), killAfter(1000)];

/** The server must upgrade (101, validated); then a text message is echoed and we close cleanly. */
const upgradeCase = (id: string, description: string, expectation: string, req: RequestFn, chop?: number): ConformanceCase => ({
  id,
  description,
  expectation,
  handshake: chop === undefined ? { request: req, expect: 'upgrade' } : { request: req, chop, expect: 'upgrade' },
  expected: { OK: [text('Hello, handshake!')] },
  expectedClose: CLEAN_NORMAL,
  actions: echoHello,
});
/** The server must reject the handshake; `grade` grades its HTTP response. */
const rejectCase = (id: string, description: string, expectation: string, req: RequestFn, grade: Grader): ConformanceCase => ({
  id,
  description,
  expectation,
  handshake: { request: req, expect: grade },
  actions: [],
});

const ECHOED = '101 with correct Sec-WebSocket-Accept; a text message is then echoed; clean close.';
const UPGRADE_CASES: Array<Parameters<typeof upgradeCase>> = [
  ['0.1.1', 'Valid opening handshake written in octet-wise chops (one TCP write per byte).', ECHOED, canonical, 1],
  ['0.1.2', 'Valid opening handshake written in chops of 7 octets.', ECHOED, canonical, 7],
  ['0.1.3', 'Opening handshake with all header names in lower case (header names are case-insensitive).', '101; echo; clean close.', request(GET, 'host: {h}', 'upgrade: websocket', 'connection: Upgrade', 'sec-websocket-key: {k}', 'sec-websocket-version: 13')],
  ['0.1.4', 'Opening handshake with "Connection: keep-alive, Upgrade" and "Upgrade: WebSocket" (token list, case-insensitive value).', '101; echo; clean close.', request(GET, HOST, 'Upgrade: WebSocket', 'Connection: keep-alive, Upgrade', KEY, V13)],
  ['0.1.5', 'Opening handshake with extra unknown headers, an Origin header and a query string in the request target.', '101; echo; clean close.', request('GET {p}?foo=bar&x=%20 HTTP/1.1', HOST, UPGRADE, CONNECTION, 'X-Custom-Header: something', 'Origin: http://127.0.0.1', KEY, V13)],
];
const REJECT_CASES: Array<Parameters<typeof rejectCase>> = [
  ['0.2.1', 'Opening handshake without an Upgrade header.', 'Rejected with an HTTP error (400 Bad Request or 426 Upgrade Required); never 101.', request(GET, HOST, CONNECTION, KEY, V13), rejectWith([400, 426])],
  ['0.2.2', 'Opening handshake with "Upgrade: h2c" instead of websocket.', 'Rejected with an HTTP error (400 or 426); never 101.', request(GET, HOST, 'Upgrade: h2c', CONNECTION, KEY, V13), rejectWith([400, 426])],
  ['0.3.1', 'Opening handshake with Sec-WebSocket-Version: 8 (hybi-08).', 'Preferred: 426 Upgrade Required (any 4xx accepted) with "Sec-WebSocket-Version: 13". A server that actually implements hybi-08 may accept (RFC 6455 4.4): INFORMATIONAL.', request(GET, HOST, UPGRADE, CONNECTION, KEY, 'Sec-WebSocket-Version: 8'), rejectOrAcceptHybi08],
  ['0.3.2', 'Opening handshake with an unknown Sec-WebSocket-Version: 99.', 'Rejected with an HTTP 4xx (426 preferred, 400 accepted) including a Sec-WebSocket-Version header that lists 13.', request(GET, HOST, UPGRADE, CONNECTION, KEY, 'Sec-WebSocket-Version: 99'), rejectWith([426, 400], versionHeader)],
  ['0.4.1', 'Opening handshake with an invalid Sec-WebSocket-Key (not 16 base64-encoded bytes).', 'Rejected with 400 Bad Request.', request(GET, HOST, UPGRADE, CONNECTION, 'Sec-WebSocket-Key: not-a-valid-key', V13), rejectWith([400])],
  ['0.4.2', 'Opening handshake without Sec-WebSocket-Key.', 'Rejected with 400 Bad Request.', request(GET, HOST, UPGRADE, CONNECTION, V13), rejectWith([400])],
  ['0.5.1', 'Opening handshake using POST instead of GET.', 'Not upgraded: a 4xx response (405 Method Not Allowed or 400 preferred).', request('POST {p} HTTP/1.1', HOST, UPGRADE, CONNECTION, KEY, V13, 'Content-Length: 0'), rejectWith([400, 405, 426])],
];
for (const row of UPGRADE_CASES) add(upgradeCase(...row));
for (const row of REJECT_CASES) add(rejectCase(...row));

// --- 1: Framing -----------------------------------------------------------------

const LENGTHS: Array<[number, number, number?]> = [
  [0, 1000],
  [125, 1000],
  [126, 1000],
  [127, 1000],
  [128, 1000],
  [65535, 10000],
  [65536, 10000],
  [65536, 10000, 997],
];
LENGTHS.forEach(([len, kill, chop], i) => {
  for (const [sub, op, fill, kind] of [
    [1, Opcode.TEXT, '*', 'text'],
    [2, Opcode.BINARY, '\xfe', 'binary'],
  ] as const) {
    const payload = len === 0 ? Buffer.alloc(0) : repeatToLength(Buffer.from(fill, 'latin1'), len);
    add({
      id: `1.${sub}.${i + 1}`,
      description: `Send ${kind} message with payload of length ${len}${chop ? `. Sent out data in chops of ${chop} octets` : ''}.`,
      expectation: `Receive echo'ed ${kind} message (with payload as sent). Clean close with normal code.`,
      expected: { OK: [op === Opcode.TEXT ? text(payload) : binary(payload)] },
      expectedClose: CLEAN_NORMAL,
      actions: [send(op, payload, { chop }), killAfter(kill)],
    });
  }
});

// --- 2: Pings/Pongs ---------------------------------------------------------------

add({
  id: '2.1',
  description: 'Send ping without payload.',
  expectation: 'Pong (with empty payload) is sent in reply to Ping. Clean close with normal code.',
  expected: { OK: [pong('')] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PING), closeAfter(1000)],
});
add({
  id: '2.2',
  description: 'Send ping with small text payload.',
  expectation: "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code.",
  expected: { OK: [pong('Hello, world!')] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PING, 'Hello, world!'), closeAfter(1000)],
});
add({
  id: '2.3',
  description: 'Send ping with small binary (non UTF-8) payload.',
  expectation: "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code.",
  expected: { OK: [pong(hex('00fffefdfcfb00ff'))] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PING, hex('00fffefdfcfb00ff')), closeAfter(1000)],
});
add({
  id: '2.4',
  description: 'Send ping with binary payload of 125 octets.',
  expectation: "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code.",
  expected: { OK: [pong(Buffer.alloc(125, 0xfe))] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PING, Buffer.alloc(125, 0xfe)), closeAfter(1000)],
});
add({
  id: '2.5',
  description: 'Send ping with binary payload of 126 octets.',
  expectation:
    'Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.PING, Buffer.alloc(126, 0xfe)), killAfter(1000)],
});
add({
  id: '2.6',
  description: 'Send ping with binary payload of 125 octets, send in octet-wise chops.',
  expectation: "Pong with payload echo'ed is sent in reply to Ping. Implementations must be TCP clean. Clean close with normal code.",
  expected: { OK: [pong(Buffer.alloc(125, 0xfe))] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PING, Buffer.alloc(125, 0xfe), { chop: 1 }), closeAfter(2000)],
});
add({
  id: '2.7',
  description: 'Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.',
  expectation: 'Nothing.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PONG), { do: 'close', code: NORMAL }, closeAfter(1000)],
});
add({
  id: '2.8',
  description: 'Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.',
  expectation: 'Nothing.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PONG, 'unsolicited pong payload'), { do: 'close', code: NORMAL }, closeAfter(1000)],
});
add({
  id: '2.9',
  description: 'Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.',
  expectation: "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.",
  expected: { OK: [pong('ping payload')] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.PONG, 'unsolicited pong payload'), send(Opcode.PING, 'ping payload'), closeAfter(1000)],
});
for (const [id, chop] of [
  ['2.10', undefined],
  ['2.11', 1],
] as const) {
  const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  add({
    id,
    description: `Send 10 Pings with payload.${chop ? ' Send out octets in octet-wise chops.' : ''}`,
    expectation:
      'Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code.',
    expected: { OK: payloads.map((p) => pong(p)) },
    expectedClose: CLEAN_NORMAL,
    actions: [...payloads.map((p) => send(Opcode.PING, p, { chop })), closeAfter(3000)],
  });
}

// --- 3: Reserved bits ---------------------------------------------------------------

const HELLO = 'Hello, world!';
add({
  id: '3.1',
  description: 'Send small text message with RSV = 1.',
  expectation:
    'The connection is failed immediately (1002/protocol error), since RSV must be 0, when no extension defining RSV meaning has been negotiated.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.TEXT, HELLO, { rsv: 1 }), killAfter(1000)],
});
for (const [id, rsv, mode] of [
  ['3.2', 2, {}],
  ['3.3', 3, { sync: true }],
  ['3.4', 4, { chop: 1 }],
] as const) {
  add({
    id,
    description: `Send small text message, then send again with RSV = ${rsv}, then send Ping.${
      'sync' in mode ? ' Octets are sent in frame-wise chops.' : 'chop' in mode ? ' Octets are sent in octet-wise chops.' : ''
    }`,
    expectation:
      'Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received.',
    expected: { OK: [text(HELLO)], 'NON-STRICT': [] },
    nonStrictNote: 'the server failed the connection without first echoing the valid message that preceded the bad frame',
    expectedClose: FAIL_PROTOCOL,
    actions: [send(Opcode.TEXT, HELLO, mode), send(Opcode.TEXT, HELLO, { ...mode, rsv }), send(Opcode.PING, undefined, mode), killAfter(1000)],
  });
}
add({
  id: '3.5',
  description: 'Send small binary message with RSV = 5.',
  expectation: 'The connection is failed immediately, since RSV must be 0.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.BINARY, hex('00fffefdfcfb00ff'), { rsv: 5 }), killAfter(1000)],
});
add({
  id: '3.6',
  description:
    'Send Ping with RSV = 6. (DEVIATION: Autobahn\'s code sends a binary frame here despite its description; we send the Ping the description names - binary+RSV is covered by 3.5.)',
  expectation: 'The connection is failed immediately, since RSV must be 0.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.PING, HELLO, { rsv: 6 }), killAfter(1000)],
});
add({
  id: '3.7',
  description: 'Send Close with RSV = 7.',
  expectation: 'The connection is failed immediately, since RSV must be 0.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.CLOSE, undefined, { rsv: 7 }), killAfter(1000)],
});

// --- 4: Opcodes -----------------------------------------------------------------------

for (const [group, base, kind] of [
  ['4.1', 3, 'non-control'],
  ['4.2', 11, 'control'],
] as const) {
  const op = (i: number): number => base + i;
  add({
    id: `${group}.1`,
    description: `Send frame with reserved ${kind} Opcode = ${op(0)}.`,
    expectation: 'The connection is failed immediately.',
    expected: { OK: [] },
    expectedClose: FAIL_PROTOCOL,
    actions: [send(op(0)), killAfter(1000)],
  });
  add({
    id: `${group}.2`,
    description: `Send frame with reserved ${kind} Opcode = ${op(1)} and non-empty payload.`,
    expectation: 'The connection is failed immediately.',
    expected: { OK: [] },
    expectedClose: FAIL_PROTOCOL,
    actions: [send(op(1), 'reserved opcode payload'), killAfter(1000)],
  });
  for (let i = 2; i <= 4; i++) {
    const mode = i === 4 ? { chop: 1 } : {};
    add({
      id: `${group}.${i + 1}`,
      description: `Send small text message, then send frame with reserved ${kind} Opcode = ${op(i)}${i > 2 ? ' and non-empty payload' : ''}, then send Ping.${
        i === 4 ? ' Octets are sent in octet-wise chops.' : ''
      }`,
      expectation:
        'Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.',
      expected: { OK: [text(HELLO)], 'NON-STRICT': [] },
      nonStrictNote: 'the server failed the connection without first echoing the valid message that preceded the bad frame',
      expectedClose: FAIL_PROTOCOL,
      actions: [send(Opcode.TEXT, HELLO, mode), send(op(i), i > 2 ? HELLO : undefined, mode), send(Opcode.PING, undefined, mode), killAfter(1000)],
    });
  }
}

// --- 5: Fragmentation ----------------------------------------------------------------

const F = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
add({
  id: '5.1',
  description: 'Send Ping fragmented into 2 fragments.',
  expectation: 'Connection is failed immediately, since control message MUST NOT be fragmented.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.PING, F[0], { fin: false }), send(Opcode.CONTINUATION, F[1], { fin: true }), killAfter(1000)],
});
add({
  id: '5.2',
  description: 'Send Pong fragmented into 2 fragments.',
  expectation: 'Connection is failed immediately, since control message MUST NOT be fragmented.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.PONG, F[0], { fin: false }), send(Opcode.CONTINUATION, F[1], { fin: true }), killAfter(1000)],
});
const chopModes = [
  ['', {}],
  [', octets are sent in frame-wise chops', { sync: true }],
  [', octets are sent in octet-wise chops', { chop: 1 }],
] as const;
chopModes.forEach(([what, mode], i) => {
  add({
    id: `5.${3 + i}`,
    description: `Send text Message fragmented into 2 fragments${what}.`,
    expectation: "Message is processed and echo'ed back to us.",
    expected: { OK: [text(F[0] + F[1])] },
    expectedClose: CLEAN_NORMAL,
    actions: [send(Opcode.TEXT, F[0], { ...mode, fin: false }), send(Opcode.CONTINUATION, F[1], { ...mode, fin: true }), closeAfter(1000)],
  });
});
chopModes.forEach(([what, mode], i) => {
  add({
    id: `5.${6 + i}`,
    description: `Send text Message fragmented into 2 fragments, one ping with payload in-between${what}.`,
    expectation: "A pong is received, then the message is echo'ed back to us.",
    expected: { OK: [pong('ping payload'), text(F[0] + F[1])] },
    expectedClose: CLEAN_NORMAL,
    actions: [
      send(Opcode.TEXT, F[0], { ...mode, fin: false }),
      send(Opcode.PING, 'ping payload', mode),
      send(Opcode.CONTINUATION, F[1], { ...mode, fin: true }),
      closeAfter(1000),
    ],
  });
});
const chopNames = ['one chop', 'per-frame chops', 'octet-wise chops'];
for (const [base, fin] of [
  [9, true],
  [12, false],
] as const) {
  chopModes.forEach(([, mode], i) => {
    add({
      id: `5.${base + i}`,
      description: `Send unfragmented Text Message after Continuation Frame with FIN = ${fin}, where there is nothing to continue, sent in ${chopNames[i]}.`,
      expectation: 'The connection is failed immediately, since there is no message to continue.',
      expected: { OK: [] },
      expectedClose: FAIL_PROTOCOL,
      actions: [send(Opcode.CONTINUATION, 'non-continuation payload', { ...mode, fin }), send(Opcode.TEXT, HELLO, { ...mode, fin: true }), killAfter(1000)],
    });
  });
}
add({
  id: '5.15',
  description:
    'Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.',
  expectation: 'The connection is failed immediately, since there is no message to continue.',
  expected: { OK: [text(F[0] + F[1])], 'NON-STRICT': [] },
  nonStrictNote: 'the server failed the connection without first echoing the valid fragmented message that preceded the bad frame',
  expectedClose: FAIL_PROTOCOL,
  actions: [
    send(Opcode.TEXT, F[0], { fin: false }),
    send(Opcode.CONTINUATION, F[1], { fin: true }),
    send(Opcode.CONTINUATION, F[2], { fin: false }),
    send(Opcode.TEXT, F[3], { fin: true }),
    killAfter(1000),
  ],
});
for (const [id, fin] of [
  ['5.16', false],
  ['5.17', true],
] as const) {
  const acts: Action[] = [];
  for (let i = 0; i < 2; i++)
    acts.push(send(Opcode.CONTINUATION, F[0], { fin }), send(Opcode.TEXT, F[1], { fin: false }), send(Opcode.CONTINUATION, F[2], { fin: true }));
  add({
    id,
    description: `Repeated 2x: Continuation Frame with FIN = ${fin} (where there is nothing to continue), then text Message fragmented into 2 fragments.`,
    expectation: 'The connection is failed immediately, since there is no message to continue.',
    expected: { OK: [] },
    expectedClose: FAIL_PROTOCOL,
    actions: [...acts, killAfter(1000)],
  });
}
add({
  id: '5.18',
  description: 'Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.',
  expectation: 'The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  actions: [send(Opcode.TEXT, F[0], { fin: false }), send(Opcode.TEXT, F[1], { fin: true }), killAfter(1000)],
});
for (const [id, sync] of [
  ['5.19', false],
  ['5.20', true],
] as const) {
  const pings = ['pongme 1!', 'pongme 2!'];
  add({
    id,
    description:
      (sync ? 'Same as Case 5.19, but send all frames with SYNC = True (only the chopping on the wire changes). ' : '') +
      'A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait 1s, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal.',
    expectation:
      "The peer immediately answers the first Ping before it has received the last text message fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message back to us.",
    expected: { OK: [pong(pings[0]), pong(pings[1]), text(F.join(''))] },
    expectedClose: CLEAN_NORMAL,
    actions: [
      send(Opcode.TEXT, F[0], { fin: false, sync }),
      send(Opcode.CONTINUATION, F[1], { fin: false, sync }),
      send(Opcode.PING, pings[0], { sync }),
      wait(1000),
      send(Opcode.CONTINUATION, F[2], { fin: false, sync }),
      send(Opcode.CONTINUATION, F[3], { fin: false, sync }),
      send(Opcode.PING, pings[1], { sync }),
      send(Opcode.CONTINUATION, F[4], { fin: true, sync }),
      closeAfter(1000),
    ],
  });
}

// --- 6: UTF-8 ---------------------------------------------------------------------------

add({
  id: '6.1.1',
  description: 'Send text message of length 0.',
  expectation: "A message is echo'ed back to us (with empty payload).",
  expected: { OK: [text('')] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.TEXT, ''), closeAfter(1000)],
});
add({
  id: '6.1.2',
  description: 'Send fragmented text message, 3 fragments each of length 0.',
  expectation: "A message is echo'ed back to us (with empty payload).",
  expected: { OK: [text('')] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.TEXT, '', { fin: false }), send(Opcode.CONTINUATION, '', { fin: false }), send(Opcode.CONTINUATION, '', { fin: true }), closeAfter(1000)],
});
add({
  id: '6.1.3',
  description: 'Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.',
  expectation: "A message is echo'ed back to us (with payload = payload of middle fragment).",
  expected: { OK: [text('middle frame payload')] },
  expectedClose: CLEAN_NORMAL,
  actions: [
    send(Opcode.TEXT, '', { fin: false }),
    send(Opcode.CONTINUATION, 'middle frame payload', { fin: false }),
    send(Opcode.CONTINUATION, '', { fin: true }),
    closeAfter(1000),
  ],
});
const U_HELLO = 'Hello-µ@ßöäüàá-UTF-8!!';
const KOSME = hex('cebae1bdb9cf83cebcceb5');
add({
  id: '6.2.1',
  description: `Send a valid UTF-8 text message in one fragment. MESSAGE: ${U_HELLO}`,
  expectation: "The message is echo'ed back to us.",
  expected: { OK: [text(U_HELLO)] },
  expectedClose: CLEAN_NORMAL,
  actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload: U_HELLO }, closeAfter(1000)],
});
add({
  id: '6.2.2',
  description: 'Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.',
  expectation: "The message is echo'ed back to us.",
  expected: { OK: [text(U_HELLO)] },
  expectedClose: CLEAN_NORMAL,
  actions: [send(Opcode.TEXT, 'Hello-µ@ßöä', { fin: false }), send(Opcode.CONTINUATION, 'üàá-UTF-8!!', { fin: true }), closeAfter(1000)],
});
add({
  id: '6.2.3',
  description: 'Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.',
  expectation: "The message is echo'ed back to us.",
  expected: { OK: [text(U_HELLO)] },
  expectedClose: CLEAN_NORMAL,
  actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload: U_HELLO, fragmentSize: 1 }, closeAfter(1000)],
});
add({
  id: '6.2.4',
  description: `Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: ${KOSME.toString('hex')}`,
  expectation: "The message is echo'ed back to us.",
  expected: { OK: [text(KOSME)] },
  expectedClose: CLEAN_NORMAL,
  actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload: KOSME, fragmentSize: 1 }, closeAfter(1000)],
});
const INVALID_6_3 = Buffer.concat([KOSME, hex('eda080'), hex('656469746564')]);
add({
  id: '6.3.1',
  description: `Send invalid UTF-8 text message unfragmented. MESSAGE: ${INVALID_6_3.toString('hex')}`,
  expectation: 'The connection is failed immediately, since the payload is not valid UTF-8.',
  expected: { OK: [] },
  expectedClose: FAIL_UTF8,
  actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload: INVALID_6_3 }, killAfter(1000)],
});
add({
  id: '6.3.2',
  description: `Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: ${INVALID_6_3.toString('hex')}`,
  expectation: 'The connection is failed immediately, since the payload is not valid UTF-8.',
  expected: { OK: [] },
  expectedClose: FAIL_UTF8,
  actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload: INVALID_6_3, fragmentSize: 1 }, killAfter(1000)],
});

// 6.4.x fail-fast
const P1 = KOSME;
const P2 = hex('f4908080'); // U+110000: invalid exactly on byte 12 (0x90)
const P3 = hex('656469746564');
const P = Buffer.concat([P1, P2, P3]);
const FAIL_FAST_EXP = {
  OK: [timeout('A')],
  'NON-STRICT': [timeout('A'), timeout('B')],
};
const FAIL_LATE_NOTE =
  'invalid UTF-8 was detected late: the server failed the connection only after the rest of the message arrived, not right after the offending octet (no fail-fast)';
const FAIL_FAST_TXT =
  'The first part is accepted, we expect to timeout on the first wait. The 2nd part should be rejected immediately (fail fast on UTF-8): OK. If we time out on the 2nd wait too, we expect the connection to be failed at least after the 3rd part: NON-STRICT.';
for (const [id, parts, desc] of [
  ['6.4.1', [P1, P2, P3], 'Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid (U+110000), then wait, then 3rd frame with rest.'],
  ['6.4.2', [P.subarray(0, 12), P.subarray(12, 13), P.subarray(13)], 'Same as Case 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid.'],
] as const) {
  add({
    id,
    description: `${desc} PART1 = ${parts[0].toString('hex')}, PART2 = ${parts[1].toString('hex')}, PART3 = ${parts[2].toString('hex')}`,
    expectation: FAIL_FAST_TXT,
    expected: FAIL_FAST_EXP,
    nonStrictNote: FAIL_LATE_NOTE,
    expectedClose: FAIL_UTF8,
    actions: [
      send(Opcode.TEXT, parts[0], { fin: false }),
      wait(1000, 'A'),
      send(Opcode.CONTINUATION, parts[1], { fin: false }),
      wait(1000, 'B'),
      send(Opcode.CONTINUATION, parts[2], { fin: true }),
      killAfter(1000),
    ],
  });
}
for (const [id, cut1, cut2, desc] of [
  ['6.4.3', 11, 15, 'Same as Case 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame.'],
  ['6.4.4', 12, 13, 'Same as Case 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame.'],
] as const) {
  add({
    id,
    description: `${desc} PART1 = ${P.subarray(0, cut1).toString('hex')}, PART2 = ${P.subarray(cut1, cut2).toString('hex')}, PART3 = ${P.subarray(cut2).toString('hex')}`,
    expectation: FAIL_FAST_TXT.replace(/part/g, 'chop'),
    expected: FAIL_FAST_EXP,
    nonStrictNote: FAIL_LATE_NOTE,
    expectedClose: FAIL_UTF8,
    actions: [
      {
        do: 'custom',
        run: async (ctx) => {
          const frame = buildFrame({ opcode: Opcode.TEXT, payload: P, mask: ctx.session.masksFrames });
          const hdr = frame.length - P.length;
          const s = ctx.session;
          s.log(`TX chop 1/3 of single text frame (header + ${cut1} payload octets)`);
          s.write(frame.subarray(0, hdr + cut1));
          if (!(await ctx.wait(1000, 'A'))) return;
          s.log('TX chop 2/3');
          s.write(frame.subarray(hdr + cut1, hdr + cut2));
          if (!(await ctx.wait(1000, 'B'))) return;
          s.log('TX chop 3/3');
          s.write(frame.subarray(hdr + cut2));
        },
      },
      killAfter(1000),
    ],
  });
}

/** Port of Autobahn's `createUtf8TestSequences()` (Markus Kuhn's UTF-8 decoder stress test). */
export function createUtf8TestSequences(): Array<[string, Array<[boolean, Buffer]>]> {
  const seqs: Array<[string, Array<[boolean, Buffer]>]> = [];
  const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
  const h = hex;
  seqs.push([
    'Some valid UTF-8 sequences',
    [
      [true, Buffer.from('hello$world', 'latin1')],
      [true, Buffer.concat([Buffer.from('hello'), h('c2a2'), Buffer.from('world')])],
      [true, Buffer.concat([Buffer.from('hello'), h('e282ac'), Buffer.from('world')])],
      [true, Buffer.concat([Buffer.from('hello'), h('f0a4ada2'), Buffer.from('world')])],
      [true, KOSME],
    ],
  ]);
  const prefixes: Array<[boolean, Buffer]> = [];
  for (let i = 1; i <= KOSME.length; i++) {
    const v = new Utf8Validator();
    const r = v.validate(KOSME.subarray(0, i));
    prefixes.push([r.valid && r.endsOnCodePoint, KOSME.subarray(0, i)]);
  }
  seqs.push(['All prefixes of a valid UTF-8 string that contains multi-byte code points', prefixes]);
  seqs.push(['First possible sequence of a certain length', [[true, h('00')], [true, h('c280')], [true, h('e0a080')], [true, h('f0908080')]]]);
  seqs.push(['First possible sequence length 5/6 (invalid codepoints)', [[false, h('f888808080')], [false, h('fc8480808080')]]]);
  seqs.push(['Last possible sequence of a certain length', [[true, h('7f')], [true, h('dfbf')], [true, h('efbfbf')], [true, h('f48fbfbf')]]]);
  seqs.push(['Last possible sequence length 4/5/6 (invalid codepoints)', [[false, h('f7bfbfbf')], [false, h('fbbfbfbfbf')], [false, h('fdbfbfbfbfbf')]]]);
  seqs.push(['Other boundary conditions', [[true, h('ed9fbf')], [true, h('ee8080')], [true, h('efbfbd')], [true, h('f48fbfbf')], [false, h('f4908080')]]]);
  const cont: Array<[boolean, Buffer]> = [h('80'), h('bf'), h('80bf'), h('80bf80'), h('80bf80bf'), h('80bf80bf80'), h('80bf80bf80bf')].map((x) => [false, x]);
  cont.push([false, Buffer.from(Array.from({ length: 0xbf - 0x80 }, (_, i) => 0x80 + i))]);
  seqs.push(['Unexpected continuation bytes', cont]);
  const lonely: Array<[boolean, Buffer]> = [];
  for (const [lo, hi] of [
    [0xc0, 0xdf],
    [0xe0, 0xef],
    [0xf0, 0xf7],
    [0xf8, 0xfb],
    [0xfc, 0xfd],
  ]) {
    const bytes: number[] = [];
    for (let i = lo; i < hi; i++) bytes.push(i, 0x20);
    lonely.push([false, Buffer.from(bytes)]);
  }
  seqs.push(['Lonely start characters', lonely]);
  const k = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(h);
  seqs.push(['Sequences with last continuation byte missing', k.map((x) => [false, x] as [boolean, Buffer])]);
  seqs.push(['Concatenation of incomplete sequences', [[false, Buffer.concat(k)]]]);
  seqs.push(['Impossible bytes', [[false, h('fe')], [false, h('ff')], [false, h('fefeffff')]]]);
  seqs.push(['Examples of an overlong ASCII character', ['c0af', 'e080af', 'f08080af', 'f8808080af', 'fc80808080af'].map((x) => [false, h(x)] as [boolean, Buffer])]);
  seqs.push(['Maximum overlong sequences', ['c1bf', 'e09fbf', 'f08fbfbf', 'f887bfbfbf', 'fc83bfbfbfbf'].map((x) => [false, h(x)] as [boolean, Buffer])]);
  seqs.push(['Overlong representation of the NUL character', ['c080', 'e08080', 'f0808080', 'f880808080', 'fc8080808080'].map((x) => [false, h(x)] as [boolean, Buffer])]);
  seqs.push(['Single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((x) => [false, h(x)] as [boolean, Buffer])]);
  seqs.push([
    'Paired UTF-16 surrogates',
    ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map(
      (x) => [false, h(x)] as [boolean, Buffer],
    ),
  ]);
  const nonchars: Array<[boolean, Buffer]> = [
    [true, h('efbfbe')],
    [true, h('efbfbf')],
  ];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4])
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf])
      if (!(z1 === 0xf4 && z2 !== 0x8f))
        for (const z3 of [0xbe, 0xbf]) {
          const zz = b(z1, z2, 0xbf, z3);
          if (!zz.equals(h('f08fbfbe')) && !zz.equals(h('f08fbfbf'))) nonchars.push([true, zz]);
        }
  seqs.push(['Non-character code points (valid UTF-8)', nonchars]);
  seqs.push(['Unicode specials (i.e. replacement char)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((x) => [true, h(x)] as [boolean, Buffer])]);
  return seqs;
}

/** Sub-category titles for 6.5 .. 6.23 (Autobahn `Case6_X_X_CaseSubCategories`). */
export const UTF8_SUBCATEGORIES: Record<string, string> = {};
createUtf8TestSequences().forEach(([title, seqs], gi) => {
  const group = 5 + gi;
  UTF8_SUBCATEGORIES[`6.${group}`] = title;
  seqs.forEach(([valid, payload], j) => {
    add({
      id: `6.${group}.${j + 1}`,
      description: `${title}: send a text message with payload which is ${valid ? '' : 'not '}valid UTF-8 in one fragment. Payload: 0x${payload.toString('hex')}`,
      expectation: valid ? "The message is echo'ed back to us." : 'The connection is failed immediately, since the payload is not valid UTF-8.',
      expected: { OK: valid ? [text(payload)] : [] },
      expectedClose: valid ? CLEAN_NORMAL : FAIL_UTF8,
      actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload }, killAfter(500)],
    });
  });
});

// --- 7: Close handling ---------------------------------------------------------------------

const CLOSE_INVALID_UTF8 = hex('cebae1bdb9cf83cebcceb5eda080656469746564');
add({
  id: '7.1.1',
  description: 'Send a message followed by a close frame.',
  expectation: 'Echoed message followed by clean close with normal code.',
  expected: { OK: [text('Hello World!')] },
  expectedClose: CLEAN_NORMAL,
  wrongCodeIsFatal: true,
  actions: [send(Opcode.TEXT, 'Hello World!'), killAfter(1000)],
});
add({
  id: '7.1.2',
  description: 'Send two close frames.',
  expectation: 'Clean close with normal code. Second close frame ignored.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  suppressClose: true,
  wrongCodeIsFatal: true,
  actions: [{ do: 'close', code: NORMAL }, send(Opcode.CLOSE), killAfter(1000)],
});
add({
  id: '7.1.3',
  description: 'Send a ping after close message.',
  expectation: 'Clean close with normal code, no pong.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  suppressClose: true,
  wrongCodeIsFatal: true,
  actions: [{ do: 'close', code: NORMAL }, send(Opcode.PING), killAfter(1000)],
});
add({
  id: '7.1.4',
  description: 'Send text message after sending a close frame.',
  expectation: 'Clean close with normal code. Text message ignored.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  suppressClose: true,
  wrongCodeIsFatal: true,
  actions: [{ do: 'close', code: NORMAL }, send(Opcode.TEXT, 'Hello World!'), killAfter(1000)],
});
add({
  id: '7.1.5',
  description: 'Send message fragment1 followed by close then fragment.',
  expectation: 'Clean close with normal code.',
  expected: { OK: [] },
  expectedClose: CLEAN_NORMAL,
  suppressClose: true,
  wrongCodeIsFatal: true,
  actions: [send(Opcode.TEXT, F[0], { fin: false }), { do: 'close', code: NORMAL }, send(Opcode.CONTINUATION, F[1], { fin: true }), killAfter(1000)],
});
add({
  id: '7.1.6',
  description: 'Send 256K message followed by close then a ping.',
  expectation:
    'Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially received.',
  expected: { OK: [text('Hello World!')], 'NON-STRICT': [] },
  expectedClose: CLEAN_NORMAL,
  suppressClose: true,
  informational: true,
  actions: [
    send(Opcode.TEXT, repeatToLength('BAsd7&jh23', 256 * 1024)),
    send(Opcode.TEXT, 'Hello World!'),
    { do: 'close', code: NORMAL },
    send(Opcode.PING),
    killAfter(1000),
  ],
});
const closeCases: Array<[string, string, string, Action, ExpectedClose]> = [
  ['7.3.1', 'Send a close frame with payload length 0 (no close code, no close reason).', 'Clean close with normal code.', { do: 'closeFrame' }, CLEAN_NORMAL],
  [
    '7.3.2',
    'Send a close frame with payload length 1.',
    'Clean close with protocol error or drop TCP.',
    { do: 'closeFrame', reason: 'a' },
    { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
  ],
  ['7.3.3', 'Send a close frame with payload length 2 (regular close with a code).', 'Clean close with normal code.', { do: 'closeFrame', code: NORMAL }, CLEAN_NORMAL],
  ['7.3.4', 'Send a close frame with close code and close reason.', 'Clean close with normal code.', { do: 'closeFrame', code: NORMAL, reason: 'Hello World!' }, CLEAN_NORMAL],
  [
    '7.3.5',
    'Send a close frame with close code and close reason of maximum length (123).',
    'Clean close with normal code.',
    { do: 'closeFrame', code: NORMAL, reason: '*'.repeat(123) },
    CLEAN_NORMAL,
  ],
  [
    '7.3.6',
    'Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.',
    'Clean close with protocol error code or dropped TCP connection.',
    { do: 'closeFrame', code: NORMAL, reason: '*'.repeat(124) },
    { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
  ],
  [
    '7.5.1',
    `Send a close frame with invalid UTF8 payload (reason 0x${CLOSE_INVALID_UTF8.toString('hex')}).`,
    'Clean close with protocol error or invalid utf8 code or dropped TCP.',
    { do: 'closeFrame', code: NORMAL, reason: CLOSE_INVALID_UTF8 },
    { closedByMe: true, closeCode: [PROTOCOL_ERROR, INVALID_PAYLOAD], requireClean: false },
  ],
];
for (const [id, description, expectation, action, expectedClose] of closeCases) {
  add({ id, description, expectation, expected: { OK: [] }, expectedClose, suppressClose: true, wrongCodeIsFatal: true, actions: [action, killAfter(1000)] });
}
// 7.7.x: Autobahn's list, then (extension) 1012-1014 which the IANA registry has since assigned.
[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999, 1012, 1013, 1014].forEach((code, i) => {
  add({
    id: `7.7.${i + 1}`,
    description: `Send close with valid close code ${code}${i >= 13 ? ' (EXTENSION: not in Autobahn\'s list; valid per the IANA registry)' : ''}.`,
    expectation: 'Clean close with normal or echoed code.',
    expected: { OK: [] },
    expectedClose: { closedByMe: true, closeCode: [NORMAL, code], requireClean: true },
    suppressClose: true,
    wrongCodeIsFatal: true,
    actions: [{ do: 'closeFrame', code }, killAfter(1000)],
  });
});
// 7.9.x: Autobahn's list, then (extension) 1015 (reserved, MUST NOT be sent).
[0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015].forEach((code, i) => {
  add({
    id: `7.9.${i + 1}`,
    description: `Send close with invalid close code ${code}${i >= 9 ? " (EXTENSION: not in Autobahn's list)" : ''}.`,
    expectation: 'Clean close with protocol error code or drop TCP.',
    expected: { OK: [] },
    expectedClose: { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
    suppressClose: true,
    wrongCodeIsFatal: true,
    actions: [{ do: 'closeFrame', code }, killAfter(1000)],
  });
});
[5000, 65535].forEach((code, i) => {
  add({
    id: `7.13.${i + 1}`,
    description: `Send close with close code ${code}. (DEVIATION: Autobahn grades this INFORMATIONAL; RFC 6455 7.4.2 defines no codes >= 5000, so we grade it as an invalid code, like 7.9.x.)`,
    expectation: 'Clean close with protocol error code or drop TCP.',
    expected: { OK: [] },
    expectedClose: { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
    suppressClose: true,
    wrongCodeIsFatal: true,
    actions: [{ do: 'closeFrame', code }, killAfter(1000)],
  });
});

// --- 9: Limits/Performance (subset) -------------------------------------------------------------

const LIMIT_BUDGET = 12000;
const LIMIT_WAIT = 10000;

/** Memoize a (large) payload so it is only built when a selected case runs. */
function lazy(make: () => Buffer): () => Buffer {
  let b: Buffer | null = null;
  return () => (b ??= make());
}

/** A 9.x case: send a big message, expect an identical echo within the wait time. */
function limitCase(id: string, description: string, opcode: number, payload: () => Buffer, how: { chop?: number; fragmentSize?: number }): void {
  const kind = opcode === Opcode.TEXT ? 'text' : 'binary';
  add({
    id,
    description,
    expectation: `Receive echo'ed ${kind} message (with payload as sent).`,
    initial: { behavior: 'FAILED', result: `Did not receive message within ${LIMIT_WAIT / 1000} seconds.` },
    expectedClose: CLEAN_NORMAL,
    minTimeoutMs: LIMIT_BUDGET,
    onMessage: (ev, ctx) => {
      const p = payload();
      if (ev.binary !== (opcode === Opcode.BINARY)) ctx.setResult('FAILED', `Expected ${kind} message with payload, but got ${ev.binary ? 'binary' : 'text'}.`);
      else if (ev.payload.length !== p.length) ctx.setResult('FAILED', `Expected ${kind} message with payload of length ${p.length}, but got ${ev.payload.length}.`);
      else if (!ev.payload.equals(p)) ctx.setResult('FAILED', `Echoed ${kind} message of length ${p.length} has different content.`);
      else ctx.setResult('OK', `Received ${kind} message of length ${ev.payload.length}.`);
      ctx.session.sendClose(NORMAL);
    },
    actions: [
      {
        do: 'custom',
        run: async (ctx) => {
          const p = payload();
          if (how.fragmentSize) for (const f of fragmentMessage(opcode, p, how.fragmentSize)) await ctx.session.sendFrame(f);
          else await ctx.session.sendFrame({ opcode, payload: p }, { chop: how.chop });
        },
      },
      closeAfter(LIMIT_WAIT),
    ],
  });
}
const SIZES: Array<[number, string]> = [
  [64 * 1024, '64k'],
  [256 * 1024, '256k'],
  [1024 * 1024, '1M'],
  [4 * 1024 * 1024, '4M'],
];
SIZES.forEach(([len, name], i) => {
  limitCase(`9.1.${i + 1}`, `Send text message message with payload of length ${name}.`, Opcode.TEXT, lazy(() => repeatToLength('BAsd7&jh23', len)), {});
  limitCase(`9.2.${i + 1}`, `Send binary message message with payload of length ${name}.`, Opcode.BINARY, lazy(() => repeatToLength(hex('00fe23faf0'), len)), {});
});
const FOUR_M = 4 * 1024 * 1024;
const FOUR_M_TEXT = lazy(() => Buffer.alloc(FOUR_M, '*'));
const FOUR_M_BIN = lazy(() => Buffer.alloc(FOUR_M, 0xfe));
(
  [
    [64, '64'],
    [256, '256'],
    [1024, '1k'],
    [4096, '4k'],
    [16 * 1024, '16k'],
    [64 * 1024, '64k'],
    [256 * 1024, '256k'],
    [1024 * 1024, '1M'],
    [FOUR_M, '4M'],
  ] as const
).forEach(([frag, name], i) => {
  limitCase(`9.3.${i + 1}`, `Send fragmented text message message with message payload of length 4M. Sent out in fragments of ${name}.`, Opcode.TEXT, FOUR_M_TEXT, {
    fragmentSize: frag,
  });
  limitCase(`9.4.${i + 1}`, `Send fragmented binary message message with message payload of length 4M. Sent out in fragments of ${name}.`, Opcode.BINARY, FOUR_M_BIN, {
    fragmentSize: frag,
  });
});
const ONE_M_TEXT = lazy(() => repeatToLength('BAsd7&jh23', 1024 * 1024));
const ONE_M_BIN = lazy(() => repeatToLength(hex('00fe23faf0'), 1024 * 1024));
[64, 128, 256, 512, 1024, 2048].forEach((chop, i) => {
  limitCase(`9.5.${i + 1}`, `Send text message message with payload of length 1M. Sent out data in chops of ${chop} octets.`, Opcode.TEXT, ONE_M_TEXT, { chop });
  limitCase(`9.6.${i + 1}`, `Send binary message message with payload of length 1M. Sent out data in chops of ${chop} octets.`, Opcode.BINARY, ONE_M_BIN, { chop });
});
for (const isBinary of [false, true]) {
  [0, 16, 64, 256, 1024, 4096].forEach((len, i) => {
    const COUNT = 1000;
    const id = `9.${isBinary ? 8 : 7}.${i + 1}`;
    const kind = isBinary ? 'binary' : 'text';
    const frame: FrameSpec = isBinary ? { opcode: Opcode.BINARY, payload: Buffer.alloc(len, 0xfe) } : { opcode: Opcode.TEXT, payload: Buffer.alloc(len, '*') };
    add({
      id,
      description: `Send ${COUNT} ${kind} messages of payload size ${len} to measure implementation/network RTT (round trip time) / latency.`,
      expectation: `Receive echo'ed ${kind} messages (with payload as sent). Timeout case after ${LIMIT_WAIT / 1000} secs.`,
      initial: { behavior: 'FAILED', result: `Case did not finish within ${LIMIT_WAIT / 1000} seconds.` },
      expectedClose: CLEAN_NORMAL,
      minTimeoutMs: LIMIT_BUDGET,
      onMessage: (ev, ctx) => {
        const count = (ctx.scratch.count as number) ?? 0;
        if (ev.binary !== isBinary || ev.payload.length !== len) {
          ctx.setResult('FAILED', `Echo'ed message type or length differs from what I sent (got binary = ${ev.binary}, payload length = ${ev.payload.length}).`);
          ctx.session.sendClose(NORMAL);
        } else if (count < COUNT) {
          ctx.scratch.count = count + 1;
          void ctx.session.sendFrame(frame);
        } else {
          ctx.setResult('OK', "Ok, received all echo'ed messages in time.");
          ctx.session.sendClose(NORMAL);
        }
      },
      actions: [
        {
          do: 'custom',
          run: (ctx) => {
            ctx.scratch.count = 1;
            void ctx.session.sendFrame(frame);
          },
        },
        closeAfter(LIMIT_WAIT),
      ],
    });
  });
}

// --- 10: Auto-fragmentation ----------------------------------------------------------------------

{
  const payload = Buffer.alloc(65536, '*');
  add({
    id: '10.1.1',
    description:
      'Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300 (50 frames of 1300 octets + 1 frame of 536 octets).',
    expectation: "Receive echo'ed text message (with payload as sent). Clean close with normal code.",
    expected: { OK: [text(payload)] },
    expectedClose: CLEAN_NORMAL,
    actions: [{ do: 'sendMessage', opcode: Opcode.TEXT, payload, fragmentSize: 1300 }, killAfter(10000)],
  });
}

// --- 12, 13: permessage-deflate (RFC 7692) ----------------------------------------------------------

/** Autobahn's `MSG_SIZES` for 12.x/13.x: (payload length, auto-fragment size). */
const PMD_SIZES: Array<[number, number]> = [
  [16, 0],
  [64, 0],
  [256, 0],
  [1024, 0],
  [4096, 0],
  [8192, 0],
  [16384, 0],
  [32768, 0],
  [65536, 0],
  [131072, 0],
  [8192, 256],
  [16384, 256],
  [32768, 256],
  [65536, 256],
  [131072, 256],
  [131072, 1024],
  [131072, 4096],
  [131072, 32768],
];

let pmdMessageCount = 10;
/**
 * Messages per 12.x/13.x case (Autobahn: 1000). Read when a case runs.
 * CI uses the default (10); `npm run conformance -- --pmd-messages N` sets it.
 */
export function setPmdMessageCount(n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('pmd message count must be a positive integer');
  pmdMessageCount = n;
}
/** Current messages per 12.x/13.x case. */
export function getPmdMessageCount(): number {
  return pmdMessageCount;
}
/**
 * Messages a case with `len`-octet payloads sends: N, but no more than N x 16 KiB
 * in total (at least 2, so context takeover across messages is always exercised).
 * With N = 10: 10 messages up to 16 KiB, 5 of 32 KiB, 2 of 64 and 128 KiB.
 */
export function pmdMessagesFor(len: number): number {
  return Math.min(pmdMessageCount, Math.max(2, Math.floor((pmdMessageCount * 16384) / len)));
}

const PMD_WAIT = 10000;
const PMD_BUDGET = 12000;

/** Subcategory titles (12.1, 13.3, ...) for the report. */
export const PMD_SUBCATEGORIES: Record<string, string> = {};

/** Send one message compressed with the agreed parameters (RSV1 on the first frame only), fragmented as asked. */
export async function sendCompressed(session: CaseSession, opcode: number, payload: Buffer, fragmentSize = 0): Promise<void> {
  const pmd = session.pmd;
  if (!pmd) throw new Error('permessage-deflate not negotiated');
  const data = await pmd.deflater.compress(payload);
  const frames = fragmentMessage(opcode, data, fragmentSize);
  frames[0].rsv = 4;
  for (const f of frames) await session.sendFrame(f);
}

/**
 * Autobahn `case12_x_x.py`: send `count` compressed messages of `len` octets
 * (consecutive slices of the data set, wrapping around), each after the echo of
 * the previous one; every echo must have the same type and content (Autobahn
 * compares the SHA-1). Whatever the peer sends compressed is inflated with the
 * agreed parameters (a fresh context per message when it promised no context
 * takeover), so a peer that compresses wrongly fails the case.
 */
function pmdEchoCase(id: string, ds: PmdDataSet, len: number, frag: number, deflate: { offers: ExtensionElement[]; accept: AcceptPolicy }, paramDesc: string): void {
  const kind = ds.binary ? 'binary' : 'text';
  add({
    id,
    description: `Send compressed ${kind} messages (Autobahn: 1000; here N = 10 by default (--pmd-messages N), at most N x 16 KiB in total) each of payload size ${len}, auto-fragment to ${frag} octets. ${paramDesc}`,
    expectation: `Receive echo'ed messages (with payload as sent). Compressed echoes must inflate with the agreed parameters. Timeout case after ${PMD_WAIT / 1000} secs.`,
    initial: { behavior: 'FAILED', result: `Case did not finish within ${PMD_WAIT / 1000} seconds.` },
    expectedClose: CLEAN_NORMAL,
    minTimeoutMs: PMD_BUDGET,
    deflate,
    onMessage: (ev, ctx) => {
      const sc = ctx.scratch as { count: number; expected: Buffer; ptr: number; next: () => void };
      const pmd = ctx.session.pmd;
      if (ev.binary !== ds.binary || !ev.payload.equals(sc.expected)) {
        ctx.setResult(
          'FAILED',
          ev.binary !== ds.binary
            ? `Echo'ed message type differs from what I sent (got binary ${ev.binary}, expected binary ${ds.binary}).`
            : ev.payload.length !== sc.expected.length
              ? `Echo'ed message length differs from what I sent (got length ${ev.payload.length}, expected length ${sc.expected.length}).`
              : `Echo'ed message contents differs from what I sent (message ${sc.count}).`,
        );
        ctx.session.sendClose(NORMAL);
      } else if (sc.count < pmdMessagesFor(len)) sc.next();
      else {
        ctx.setResult(
          'OK',
          `Ok, received all ${sc.count} echo'ed messages in time (agreed: ${pmd?.agreed || 'permessage-deflate'}; ${pmd?.compressedIn ?? 0} echoes compressed, ${pmd?.plainIn ?? 0} uncompressed).`,
        );
        ctx.session.sendClose(NORMAL);
      }
    },
    actions: [
      {
        do: 'custom',
        run: (ctx) => {
          const data = ds.data();
          const sc = ctx.scratch as { count: number; expected: Buffer; ptr: number; next: () => void };
          sc.count = 0;
          sc.ptr = 0;
          sc.next = () => {
            // Autobahn's sendOne: the next `len` octets of the data, wrapping around.
            const to = (sc.ptr + len) % data.length;
            sc.expected = to > sc.ptr ? data.subarray(sc.ptr, to) : Buffer.concat([data.subarray(sc.ptr), data.subarray(0, to)]);
            sc.ptr = to;
            sc.count++;
            sendCompressed(ctx.session, ds.binary ? Opcode.BINARY : Opcode.TEXT, sc.expected, frag).catch((e: unknown) => {
              ctx.session.log(`compress error: ${String(e)}`);
              ctx.setResult('FAILED', `suite error while compressing: ${String(e)}`);
              ctx.session.sendClose(NORMAL);
            });
          };
          sc.next();
        },
      },
      closeAfter(PMD_WAIT),
    ],
  });
}

// 12.x: Autobahn's default offer / accept, five data sets.
{
  const deflate = { offers: [autobahnOffer()], accept: autobahnAccept(false, 0) };
  PMD_DATA_SETS.forEach((ds, j) => {
    PMD_SUBCATEGORIES[`12.${j + 1}`] = `${ds.desc} (${ds.binary ? 'binary' : 'utf8'})`;
    PMD_SIZES.forEach(([len, frag], i) =>
      pmdEchoCase(`12.${j + 1}.${i + 1}`, ds, len, frag, deflate, 'Use default permessage-deflate offer (server role) / accept (client role).'),
    );
  });
}

// 13.x: Autobahn's DEFLATE_PARAMS: (server accept, client offers), JSON data.
{
  const P: Array<[AcceptPolicy, string, ExtensionElement[]]> = [
    [autobahnAccept(false, 0), '[(False, 0)]', [autobahnOffer()]],
    [autobahnAccept(true, 0), '[(True, 0)]', [autobahnOffer(true, 0)]],
    [autobahnAccept(false, 8), '[(False, 8)]', [autobahnOffer(false, 8)]],
    [autobahnAccept(false, 15), '[(False, 15)]', [autobahnOffer(false, 15)]],
    [autobahnAccept(true, 8), '[(True, 8)]', [autobahnOffer(true, 8)]],
    [autobahnAccept(true, 15), '[(True, 15)]', [autobahnOffer(true, 15)]],
    [
      firstAccept(autobahnAccept(true, 8), autobahnAccept(true, 0), autobahnAccept(false, 0)),
      '[(True, 8), (True, 0), (False, 0)]',
      [autobahnOffer(true, 8), autobahnOffer(true, 0), autobahnOffer()],
    ],
  ];
  const ds = PMD_DATA_SETS[0];
  P.forEach(([accept, acceptDesc, offers], j) => {
    const desc = `client offers (requestNoContextTakeover, requestMaxWindowBits): ${describeOffers(offers)} / server accept (requestNoContextTakeover, requestMaxWindowBits): ${acceptDesc}`;
    PMD_SUBCATEGORIES[`13.${j + 1}`] = `${ds.desc} - ${desc}`;
    PMD_SIZES.forEach(([len, frag], i) => pmdEchoCase(`13.${j + 1}.${i + 1}`, ds, len, frag, { offers, accept }, `Use permessage-deflate ${desc}.`));
  });
}

// 13.8.x (EXTENSION, not in Autobahn): compressed-frame violations.
{
  const deflate = { offers: [autobahnOffer()], accept: autobahnAccept(false, 0) };
  PMD_SUBCATEGORIES['13.8'] = '(EXTENSION) permessage-deflate violations: RSV1 where RFC 7692 forbids it, corrupt compressed data';
  const FAIL_1007: ExpectedClose = { closedByMe: false, closeCode: [INVALID_PAYLOAD], requireClean: false };
  const compressedFrames = async (ctx: CaseContext, payload: Buffer, fragmentSize: number, rsvRest: number): Promise<void> => {
    const data = await ctx.session.pmd!.deflater.compress(payload);
    const frames = fragmentMessage(Opcode.TEXT, data, fragmentSize);
    frames.forEach((f, i) => (f.rsv = i === 0 ? 4 : rsvRest));
    for (const f of frames) await ctx.session.sendFrame(f);
  };
  const violation = (id: string, description: string, expectation: string, ec: ExpectedClose, run: (ctx: CaseContext) => Promise<void>, after: Action[] = []): void =>
    add({ id, description: `(EXTENSION) ${description}`, expectation, expected: { OK: [] }, expectedClose: ec, deflate, actions: [{ do: 'custom', run }, ...after, killAfter(1000)] });
  const hello = Buffer.from('Hello, compressed world! '.repeat(8));
  violation(
    '13.8.1',
    'permessage-deflate agreed. Send a compressed text message in fragments of 20 octets whose continuation frames also have RSV1 set.',
    'RFC 7692 6.1: RSV1 is set on the first frame of a message only; the peer fails the connection (1002 or TCP drop); nothing is echoed.',
    FAIL_PROTOCOL,
    (ctx) => compressedFrames(ctx, hello, 20, 4),
  );
  violation(
    '13.8.2',
    'permessage-deflate agreed. Send an uncompressed text message in 2 fragments, the continuation frame with RSV1 set.',
    'RFC 7692 6.1: RSV1 on a continuation frame is a protocol error: 1002 or TCP drop; nothing is echoed.',
    FAIL_PROTOCOL,
    async (ctx) => {
      await ctx.session.sendFrame({ opcode: Opcode.TEXT, payload: 'Hello, ', fin: false });
      await ctx.session.sendFrame({ opcode: Opcode.CONTINUATION, payload: 'world!', rsv: 4 });
    },
  );
  violation(
    '13.8.3',
    'permessage-deflate agreed. Send a ping with RSV1 set.',
    'RFC 7692 6.1: permessage-deflate does not apply to control frames; RSV1 on a ping is a protocol error: 1002 or TCP drop; no pong.',
    FAIL_PROTOCOL,
    (ctx) => ctx.session.sendFrame({ opcode: Opcode.PING, payload: 'Hello', rsv: 4 }),
  );
  violation(
    '13.8.4',
    'permessage-deflate agreed. Send a close frame (1000) with RSV1 set.',
    'RFC 7692 6.1: RSV1 on a close frame is a protocol error: 1002 or TCP drop.',
    FAIL_PROTOCOL,
    (ctx) => ctx.session.sendFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]), rsv: 4 }),
  );
  violation(
    '13.8.5',
    'permessage-deflate agreed. Send a text frame with RSV2 set (and RSV1).',
    'permessage-deflate defines RSV1 only (RFC 6455 5.2): 1002 or TCP drop; nothing is echoed.',
    FAIL_PROTOCOL,
    async (ctx) => {
      const data = await ctx.session.pmd!.deflater.compress(hello);
      await ctx.session.sendFrame({ opcode: Opcode.TEXT, payload: data, rsv: 6 });
    },
  );
  violation(
    '13.8.6',
    'permessage-deflate agreed. Send a text message with RSV1 set whose payload is not valid DEFLATE data (block type 3).',
    'The message cannot be decompressed: the peer fails the connection with 1007 (invalid payload data, as ws does) or drops TCP; nothing is echoed.',
    FAIL_1007,
    (ctx) => ctx.session.sendFrame({ opcode: Opcode.TEXT, payload: hex('ffffffff0000'), rsv: 4 }),
  );
  violation(
    '13.8.7',
    'permessage-deflate agreed. Send a compressed text message that inflates to invalid UTF-8.',
    'RFC 6455 8.1: the peer fails the connection with 1007 or drops TCP; nothing is echoed.',
    FAIL_UTF8,
    async (ctx) => {
      const data = await ctx.session.pmd!.deflater.compress(INVALID_6_3);
      await ctx.session.sendFrame({ opcode: Opcode.TEXT, payload: data, rsv: 4 });
    },
  );
}

/** Compare Autobahn-style ids numerically ("1.1.10" > "1.1.9", "10.1.1" > "9.8.6"). */
export function compareIds(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d) return d;
  }
  return 0;
}

cases.sort((a, b) => compareIds(a.id, b.id));

/** All cases, sorted by id. */
export const ALL_CASES: readonly ConformanceCase[] = cases;

/**
 * Select cases by comma-separated patterns: `*` is a wildcard, `1.*` selects
 * category 1, `6.4.1` selects one case; a leading `!` excludes.
 */
export function selectCases(patterns: string | string[] | undefined, all: readonly ConformanceCase[] = ALL_CASES): ConformanceCase[] {
  const list = (Array.isArray(patterns) ? patterns : (patterns ?? '*').split(',')).map((s) => s.trim()).filter(Boolean);
  const toRe = (p: string): RegExp => new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
  const inc = list.filter((p) => !p.startsWith('!')).map(toRe);
  const exc = list.filter((p) => p.startsWith('!')).map((p) => toRe(p.slice(1)));
  return all.filter((c) => (inc.length === 0 || inc.some((r) => r.test(c.id))) && !exc.some((r) => r.test(c.id)));
}
