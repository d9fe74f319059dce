/**
 * Cases for a WebSocket **client** under test (the fuzzing server plays the
 * server). Categories 1-7, 9, 10 reuse `cases.ts` unchanged (they are
 * symmetric; the fuzzing server sends the same frames, unmasked). On top:
 *
 * - 0.x: the client's side of the opening handshake: invalid server
 *   responses the client must refuse (0.1.x), unusual but valid ones it must
 *   accept (0.2.x);
 * - 1.3.x: masked server frames (RFC 6455 §5.1: the client MUST fail);
 * - 7.15.x: who closes TCP (RFC 6455 §7.1.1: the server closes first, the
 *   client waits for it).
 *
 * @packageDocumentation
 */

import { ALL_CASES, Action, ConformanceCase, ExpectedClose, compareIds, selectCases, text } from './cases';
import { Opcode, acceptKey } from './frames';

/** A parsed client opening-handshake request. */
export interface ClientRequest {
  method: string;
  target: string;
  version: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  head: string;
}

/** How the fuzzing server answers the client's opening handshake in a 0.x case. */
export interface ServerHandshakeSpec {
  /** Build the raw response head (including the final blank line). */
  response: (req: ClientRequest) => string;
  /** Write the response in chops of this many octets. */
  chop?: number;
  /**
   * `'fail'`: the response is invalid; the client must fail the connection
   * (close TCP, send nothing). `'open'`: the response is valid; the case's
   * actions run as usual.
   */
  expect: 'fail' | 'open';
  /** Bytes written right after the head, in the same TCP write (0.2.3). */
  trailing?: Buffer;
}

/** A client-role case. */
export interface ClientCase extends ConformanceCase {
  serverHandshake?: ServerHandshakeSpec;
  /** Hold TCP open this long after the closing handshake (7.15.x). */
  tcpCloseDelayMs?: number;
}

const CLEAN_NORMAL: ExpectedClose = { closedByMe: true, closeCode: [1000], requireClean: true };
const FAIL_PROTOCOL: ExpectedClose = { closedByMe: false, closeCode: [1002], requireClean: false };

/** Canonical 101 response lines for a request. */
function ok101(req: ClientRequest, extra: string[] = [], omit: string[] = []): string {
  const key = req.headers['sec-websocket-key'] ?? '';
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    ...[
      ['upgrade', 'Upgrade: websocket'],
      ['connection', 'Connection: Upgrade'],
      ['accept', `Sec-WebSocket-Accept: ${acceptKey(key)}`],
    ]
      .filter(([k]) => !omit.includes(k))
      .map(([, l]) => l),
    ...extra,
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

const clientCases: ClientCase[] = [];
const add = (c: ClientCase): void => void clientCases.push(c);

const FAIL_EXPECTATION =
  'The client fails the WebSocket connection (RFC 6455 4.1): it closes TCP and sends no frame (the text frame we send right after the response is not echoed).';
const badHandshakes: Array<[string, string, (r: ClientRequest) => string]> = [
  ['0.1.1', 'Server answers with a wrong Sec-WebSocket-Accept.', (r) => ok101(r, ['Sec-WebSocket-Accept: ' + acceptKey('AAAAAAAAAAAAAAAAAAAAAA==')], ['accept'])],
  ['0.1.2', 'Server answers without Sec-WebSocket-Accept.', (r) => ok101(r, [], ['accept'])],
  ['0.1.3', 'Server answers without an Upgrade header.', (r) => ok101(r, [], ['upgrade'])],
  ['0.1.4', 'Server answers with "Upgrade: h2c".', (r) => ok101(r, ['Upgrade: h2c'], ['upgrade'])],
  ['0.1.5', 'Server answers without a Connection header.', (r) => ok101(r, [], ['connection'])],
  ['0.1.6', 'Server answers with "Connection: keep-alive" (no upgrade token).', (r) => ok101(r, ['Connection: keep-alive'], ['connection'])],
  [
    '0.1.7',
    'Server answers "HTTP/1.1 200 OK" (with otherwise valid upgrade headers).',
    (r) => ok101(r, []).replace('HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 200 OK').replace(/\r\n\r\n$/, '\r\nContent-Length: 0\r\n\r\n'),
  ],
  ['0.1.8', 'Server answers "HTTP/1.1 403 Forbidden".', () => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'],
  [
    '0.1.9',
    'Server selects a subprotocol ("chat") the client did not offer (client offered none, or others).',
    (r) => ok101(r, [`Sec-WebSocket-Protocol: ${unofferedProtocol(r)}`]),
  ],
  ['0.1.10', 'Server selects an extension ("x-ws-unrequested") the client did not offer.', (r) => ok101(r, ['Sec-WebSocket-Extensions: x-ws-unrequested'])],
  [
    '0.1.11',
    'Server selects permessage-deflate although the client did not offer it (or, if it did, with an unknown parameter).',
    (r) => ok101(r, [/permessage-deflate/i.test(r.headers['sec-websocket-extensions'] ?? '') ? 'Sec-WebSocket-Extensions: permessage-deflate; x_unknown_param' : 'Sec-WebSocket-Extensions: permessage-deflate']),
  ],
];
function unofferedProtocol(r: ClientRequest): string {
  const offered = (r.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
  let p = 'chat';
  while (offered.includes(p)) p += 'x';
  return p;
}
for (const [id, description, response] of badHandshakes)
  add({ id, description, expectation: FAIL_EXPECTATION, serverHandshake: { response, expect: 'fail' }, actions: [] });

const echoHello: Action[] = [
  { do: 'send', frame: { opcode: Opcode.TEXT, payload: 'Hello, handshake!' } },
  { do: 'killAfter', ms: 1000 },
];
const goodHandshakes: Array<[string, string, Partial<ServerHandshakeSpec>]> = [
  [
    '0.2.1',
    'Server answers with lower-case header names, "Upgrade: WebSocket" and "Connection: keep-alive, Upgrade" (case-insensitive values, token list).',
    {
      response: (r) =>
        ['HTTP/1.1 101 Switching Protocols', 'upgrade: WebSocket', 'connection: keep-alive, Upgrade', `sec-websocket-accept: ${acceptKey(r.headers['sec-websocket-key'] ?? '')}`].join('\r\n') +
        '\r\n\r\n',
    },
  ],
  ['0.2.2', 'Server writes the 101 response in octet-wise chops.', { response: (r) => ok101(r), chop: 1 }],
  [
    '0.2.3',
    'Server sends the first frame in the same TCP write as the 101 response.',
    { response: (r) => ok101(r), trailing: Buffer.from([0x81, 17, ...Buffer.from('Hello, handshake!')]) },
  ],
  ['0.2.4', 'Server adds unknown headers and a non-standard reason phrase to the 101 response.', { response: (r) => ok101(r, ['X-Powered-By: fuzzing', 'Server: ws-rx-conformance']).replace('Switching Protocols', 'Web Socket Protocol Handshake') }],
];
for (const [id, description, spec] of goodHandshakes)
  add({
    id,
    description,
    expectation: "The client accepts the handshake and echoes the text message; clean close with normal code.",
    serverHandshake: { response: spec.response!, chop: spec.chop, trailing: spec.trailing, expect: 'open' },
    expected: { OK: [text('Hello, handshake!')] },
    expectedClose: CLEAN_NORMAL,
    actions: spec.trailing ? [{ do: 'killAfter', ms: 1000 }] : echoHello,
  });

// 1.3.x: masked frames from the server.
for (const [i, opcode, payload] of [
  [1, Opcode.TEXT, 'Hello, masked world!'],
  [2, Opcode.BINARY, Buffer.from([0x00, 0xff, 0xfe, 0xfd])],
] as const)
  add({
    id: `1.3.${i}`,
    description: `(EXTENSION, client role) Server sends a masked ${opcode === Opcode.TEXT ? 'text' : 'binary'} frame.`,
    expectation: 'RFC 6455 5.1: a client MUST close the connection if it detects a masked frame: the connection is failed (1002 or TCP drop), nothing is echoed.',
    expected: { OK: [] },
    expectedClose: FAIL_PROTOCOL,
    actions: [{ do: 'send', frame: { opcode, payload, mask: true } }, { do: 'killAfter', ms: 1000 }],
  });

// 7.15.x: who closes TCP.
const TCP_DELAY = 500;
add({
  id: '7.15.1',
  description: `(EXTENSION, client role) Server echoes a message, starts the closing handshake, and after the client's close reply holds TCP open for ${TCP_DELAY} ms before closing it.`,
  expectation:
    'RFC 6455 7.1.1: the server closes TCP first; the client SHOULD wait for the server\'s TCP close (a client that closes first gets FAILED BY CLIENT: NON-STRICT).',
  expected: { OK: [text('Hello, TCP!')] },
  expectedClose: CLEAN_NORMAL,
  tcpCloseDelayMs: TCP_DELAY,
  actions: [{ do: 'send', frame: { opcode: Opcode.TEXT, payload: 'Hello, TCP!' } }, { do: 'killAfter', ms: 1000 }],
});
add({
  id: '7.15.2',
  description: `(EXTENSION, client role) Server sends a text frame with RSV = 1; after the client's close (1002) the server replies and holds TCP open for ${TCP_DELAY} ms before closing it.`,
  expectation:
    'The client fails the connection with 1002 and then waits for the server to close TCP (RFC 6455 7.1.7 -> 7.1.1: "_Close the WebSocket Connection_ ... a client SHOULD wait for a TCP Close from the server").',
  expected: { OK: [] },
  expectedClose: FAIL_PROTOCOL,
  tcpCloseDelayMs: TCP_DELAY,
  actions: [{ do: 'send', frame: { opcode: Opcode.TEXT, payload: 'Hello, RSV!', rsv: 4 } }, { do: 'killAfter', ms: 1500 }],
});

const ALL: ClientCase[] = [...clientCases, ...ALL_CASES.filter((c) => !c.id.startsWith('0.'))];
ALL.sort((a, b) => compareIds(a.id, b.id));

/** Every client-role case, sorted by id. */
export const ALL_CLIENT_CASES: readonly ClientCase[] = ALL;

/** Select client-role cases by pattern (see `selectCases`). */
export function selectClientCases(patterns: string | string[] | undefined, all: readonly ClientCase[] = ALL_CLIENT_CASES): ClientCase[] {
  return selectCases(patterns, all) as ClientCase[];
}
