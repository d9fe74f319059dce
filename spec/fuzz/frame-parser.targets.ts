/**
 * Fuzz targets for the sans-I/O framing core (RFC 6455 §5): the
 * `FrameParser` alone and the `WebSocketProtocol` on top of it (close frame
 * validation, pongs, the close it sends when it fails).
 *
 * Inputs: valid frame sequences built here by hand (independent of the
 * library's writer), the same mutated at random positions, and random bytes;
 * each split into random chunks. Properties:
 * - nothing throws; every run ends (the harness's watchdog);
 * - the events are the same whatever the chunking (one chunk, random cuts,
 *   byte by byte);
 * - the outcome is valid messages, then at most one error, which is last and
 *   carries close code 1002, 1007 or 1009; nothing follows it;
 * - a valid sequence yields exactly the messages and control frames it encodes.
 */
import { expect } from 'chai';
import * as fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { ProtocolHandler, WebSocketProtocol } from '../../lib/protocol/connection';
import type { WebSocketError } from '../../lib/protocol/errors';
import { Frame, FrameParser } from '../../lib/protocol/frame-parser';
import { Mutation, fromJson, mutate, splitAt, toJson } from './bytes';
import type { FuzzTarget } from './harness';

type Role = 'client' | 'server';

/** Parser settings under test. `role` is the receiving side. */
export interface ParserConfig {
  role: Role;
  maxPayload: number;
  /** 0 or 0x40 (RSV1, as permessage-deflate allows). */
  allowedRsv: number;
  emitFrames: boolean;
}

/** A byte stream and where to cut it. */
export interface StreamInput {
  cfg: ParserConfig;
  bytes: Buffer;
  cuts: number[];
}

/** The close codes a failing parser may use (RFC 6455 §7.4.1). */
const FAIL_CODES = [1002, 1007, 1009];

// ---- building frames by hand -------------------------------------------------

interface FrameModel {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
  /** 0: minimal length encoding; 1: at least 16-bit; 2: 64-bit. */
  lengthForm: number;
  mask: Buffer | null;
}

/** Encodes a frame (RFC 6455 §5.2), masking a copy of the payload. */
export function encodeFrame(f: FrameModel): Buffer {
  const n = f.payload.length;
  const form = n > 0xffff ? 2 : n > 125 ? Math.max(1, f.lengthForm) : f.lengthForm;
  const head: number[] = [(f.fin ? 0x80 : 0) | f.rsv | f.opcode];
  const m = f.mask ? 0x80 : 0;
  if (form === 0) head.push(m | n);
  else if (form === 1) head.push(m | 126, n >>> 8, n & 0xff);
  else {
    const hi = Math.floor(n / 0x100000000);
    head.push(m | 127, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff);
    head.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const body = Buffer.from(f.payload);
  if (f.mask) {
    head.push(...f.mask);
    for (let i = 0; i < body.length; i++) body[i] ^= f.mask[i & 3];
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** A control frame between or around data frames. */
interface ControlItem {
  opcode: number; // 0x8, 0x9, 0xa
  payload: Buffer;
}

/** One item of a valid stream: a (maybe fragmented) data message, or a control frame. */
export type StreamItem =
  | {
      kind: 'message';
      text: boolean;
      compressed: boolean;
      payload: Buffer;
      /** Fragment boundaries (byte offsets into payload). */
      cuts: number[];
      /** Control frames sent after fragment `after` (interleaving, RFC 6455 §5.4). */
      controls: { after: number; control: ControlItem }[];
    }
  | { kind: 'control'; control: ControlItem };

/** A valid stream: frames of `items`, each with a length form and mask choice. */
export interface ValidInput {
  cfg: ParserConfig;
  items: StreamItem[];
  /** Per frame, cycling: length encoding form and mask key. */
  forms: number[];
  masks: Buffer[];
  cuts: number[];
}

/** A recorded parser event, as plain values. */
type Event =
  | ['message', string, boolean, boolean]
  | ['control', number, string]
  | ['frame', number, boolean, number, string]
  | ['error', number, string];

/** Frames, byte stream and expected events of a valid input. */
export function buildValid(input: ValidInput): { bytes: Buffer; frames: Buffer[]; expected: Event[] } {
  const { cfg } = input;
  const frames: Buffer[] = [];
  const expected: Event[] = [];
  let k = 0;
  const emit = (fin: boolean, rsv: number, opcode: number, payload: Buffer, form?: number): void => {
    const mask = cfg.role === 'server' ? input.masks[k % input.masks.length] : null;
    const lengthForm = form ?? input.forms[k % input.forms.length];
    k++;
    frames.push(encodeFrame({ fin, rsv, opcode, payload, lengthForm, mask }));
    if (cfg.emitFrames) expected.push(['frame', opcode, fin, rsv, payload.toString('hex')]);
  };
  const control = (c: ControlItem): void => {
    // Control frames use the 7-bit length (§5.5: at most 125 bytes; §5.2: minimal encoding).
    emit(true, 0, c.opcode, c.payload, 0);
    expected.push(['control', c.opcode, c.payload.toString('hex')]);
  };
  for (const item of input.items) {
    if (item.kind === 'control') {
      control(item.control);
      continue;
    }
    const bounds = [0, ...item.cuts, item.payload.length];
    const pieces = bounds.length - 1;
    for (let i = 0; i < pieces; i++) {
      const first = i === 0;
      const opcode = first ? (item.text ? 0x1 : 0x2) : 0x0;
      const rsv = first && item.compressed ? 0x40 : 0;
      emit(i === pieces - 1, rsv, opcode, item.payload.subarray(bounds[i], bounds[i + 1]));
      if (i === pieces - 1) expected.push(['message', item.payload.toString('hex'), item.text, item.compressed]);
      for (const c of item.controls) if (c.after === i && i < pieces - 1) control(c.control);
    }
  }
  return { bytes: Buffer.concat(frames), frames, expected };
}

// ---- running the parser -----------------------------------------------------

function bytewise(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

/** Feeds `chunks` (copies: the parser unmasks in place) and records the events. */
function runParser(cfg: ParserConfig, chunks: Buffer[]): Event[] {
  const events: Event[] = [];
  const parser = new FrameParser(
    {
      onMessage(payload: Buffer, text: boolean, compressed: boolean) {
        events.push(['message', payload.toString('hex'), text, compressed]);
      },
      onControl(opcode: number, payload: Buffer) {
        events.push(['control', opcode, payload.toString('hex')]);
      },
      onFrame(f: Frame) {
        const rsv = (f.rsv1 ? 0x40 : 0) | (f.rsv2 ? 0x20 : 0) | (f.rsv3 ? 0x10 : 0);
        events.push(['frame', f.opcode, f.fin, rsv, f.payload.toString('hex')]);
      },
      onParseError(error: WebSocketError) {
        events.push(['error', error.closeCode, error.code]);
      },
    },
    { role: cfg.role, maxPayload: cfg.maxPayload, allowedRsv: cfg.allowedRsv },
  );
  parser.emitFrames = cfg.emitFrames;
  for (const c of chunks) parser.receive(Buffer.from(c));
  const failed = events.length > 0 && events[events.length - 1][0] === 'error';
  if (failed) {
    // Input after a failure is discarded (STYLE.md "Errors").
    const n = events.length;
    parser.receive(Buffer.from([0x81, 0x00, 0x82, 0x00]));
    expect(events.length, 'events after the parser failed').to.equal(n);
  }
  return events;
}

/** The invariants every outcome must satisfy. */
function checkOutcome(cfg: ParserConfig, events: Event[]): void {
  const errors = events.filter((e) => e[0] === 'error');
  expect(errors.length, 'at most one error').to.be.at.most(1);
  if (errors.length === 1) {
    expect(events[events.length - 1][0], 'the error is the last event').to.equal('error');
    const [, closeCode, code] = errors[0] as ['error', number, string];
    expect(FAIL_CODES, `close code of ${code}`).to.include(closeCode);
    expect(code).to.match(/^WS_ERR_[A-Z0-9_]+$/);
  }
  for (const e of events) {
    if (e[0] === 'message') {
      const payload = Buffer.from(e[1], 'hex');
      expect(payload.length, 'message size').to.be.at.most(cfg.maxPayload);
      if (e[3]) expect(cfg.allowedRsv & 0x40, 'compressed only with RSV1 allowed').to.equal(0x40);
      else if (e[2]) expect(isUtf8(payload), 'text messages are valid UTF-8').to.equal(true);
    } else if (e[0] === 'control') {
      expect([0x8, 0x9, 0xa]).to.include(e[1]);
      expect(e[2].length / 2, 'control payload').to.be.at.most(125);
    } else if (e[0] === 'frame') {
      expect([0x0, 0x1, 0x2, 0x8, 0x9, 0xa]).to.include(e[1]);
      expect(e[3] & ~cfg.allowedRsv, 'RSV bits').to.equal(0);
    }
  }
}

/**
 * Known lib bug, tolerated here so that the random properties keep looking
 * for new ones (the exact case is pinned, as xfail, in regressions.json):
 * with `emitFrames`, a text frame whose payload is invalid UTF-8 is passed to
 * `onFrame` before the parser fails when the frame arrives in one chunk, but
 * not when it straddles chunks (the per-piece check fails first). So a split
 * run may lack the one frame event just before the 1007. Set
 * `STRICT_FRAME_EVENTS` (or remove this) once the parser validates first.
 */
function expectSameEvents(actual: Event[], whole: Event[], what: string): void {
  const n = whole.length;
  if (!process.env.STRICT_FRAME_EVENTS && n >= 2 && actual.length === n - 1) {
    const last = whole[n - 1];
    const before = whole[n - 2];
    if (last[0] === 'error' && last[1] === 1007 && before[0] === 'frame' && (before[1] === 0x1 || before[1] === 0x0)) {
      expect(actual, what).to.deep.equal([...whole.slice(0, n - 2), last]);
      return;
    }
  }
  expect(actual, what).to.deep.equal(whole);
}

/** Runs `bytes` whole, cut at `cuts`, and byte by byte (if short); checks all agree and hold. */
function checkStream(input: StreamInput): Event[] {
  const { cfg, bytes, cuts } = input;
  const whole = runParser(cfg, [bytes]);
  checkOutcome(cfg, whole);
  expectSameEvents(runParser(cfg, splitAt(bytes, cuts)), whole, 'events with random chunks');
  if (bytes.length <= 600) expectSameEvents(runParser(cfg, bytewise(bytes)), whole, 'events byte by byte');
  return whole;
}

/** Strict chunking check (no tolerance), for pinned regression cases. */
function checkStreamStrict(input: StreamInput): void {
  const { cfg, bytes, cuts } = input;
  const whole = runParser(cfg, [bytes]);
  checkOutcome(cfg, whole);
  expect(runParser(cfg, splitAt(bytes, cuts)), 'events with random chunks').to.deep.equal(whole);
  expect(runParser(cfg, bytewise(bytes)), 'events byte by byte').to.deep.equal(whole);
}

// ---- the core on top ----------------------------------------------------------

type CoreEvent =
  | ['message', string, boolean]
  | ['ping', string]
  | ['pong', string]
  | ['close', number, string]
  | ['fail', number, string];

/** Feeds the core and returns its events and its output, parsed by the other side. */
function runCore(cfg: ParserConfig, chunks: Buffer[]): { events: CoreEvent[]; output: Event[] } {
  const events: CoreEvent[] = [];
  const handler: ProtocolHandler = {
    onMessage: (data, text) => events.push(['message', data.toString('hex'), text]),
    onFrame: () => undefined,
    onPing: (payload) => events.push(['ping', payload.toString('hex')]),
    onPong: (payload) => events.push(['pong', payload.toString('hex')]),
    onCloseFrame: (code, reason) => events.push(['close', code, reason]),
    onFail: (error) => events.push(['fail', error.closeCode, error.code]),
    onOutput: () => undefined,
    onCloseTransport: () => undefined,
  };
  const core = new WebSocketProtocol(handler, { role: cfg.role, maxPayload: cfg.maxPayload });
  for (const c of chunks) core.receive(Buffer.from(c));
  const written = core.takeOutput() ?? [];
  // The peer's view of what the core wrote: it must be a valid stream.
  const peer: ParserConfig = { role: cfg.role === 'server' ? 'client' : 'server', maxPayload: 1 << 20, allowedRsv: 0, emitFrames: false };
  // The close reason is free text (its wording may differ with the chunking,
  // e.g. "invalid UTF-8" vs "ends inside a UTF-8 sequence"): keep the code only.
  const output = runParser(peer, [Buffer.concat(written)]).map((e): Event =>
    e[0] === 'control' && e[1] === 0x8 ? ['control', 0x8, e[2].slice(0, 4)] : e,
  );
  return { events, output };
}

function checkCore(input: StreamInput): void {
  const { cfg, bytes, cuts } = input;
  const whole = runCore(cfg, [bytes]);
  expect(runCore(cfg, splitAt(bytes, cuts)), 'core events with random chunks').to.deep.equal(whole);
  const { events, output } = whole;
  const fails = events.filter((e) => e[0] === 'fail');
  expect(fails.length, 'at most one failure').to.be.at.most(1);
  const closeAt = events.findIndex((e) => e[0] === 'close');
  const failAt = events.findIndex((e) => e[0] === 'fail');
  const endAt = [closeAt, failAt].filter((i) => i >= 0).reduce((a, b) => Math.min(a, b), events.length);
  // RFC 6455 §1.4 / §7.1.7: nothing is delivered after the close frame or the failure.
  expect(events.length - endAt, 'events after the end').to.be.at.most(1);
  if (failAt >= 0) expect(FAIL_CODES).to.include(events[failAt][1]);
  if (closeAt >= 0) {
    const code = events[closeAt][1] as number;
    expect(code === 1005 || (code >= 1000 && code <= 4999), `close code ${code}`).to.equal(true);
  }
  // What the core wrote: pongs for the pings, then at most one close frame, last.
  expect(output.filter((e) => e[0] === 'error'), 'core output parses cleanly').to.deep.equal([]);
  const pings = events.filter((e) => e[0] === 'ping').map((e) => e[1]);
  const pongs = output.filter((e) => e[0] === 'control' && e[1] === 0xa).map((e) => e[2]);
  expect(pongs, 'one pong per ping, same payload (RFC 6455 §5.5.3)').to.deep.equal(pings);
  const closes = output.filter((e) => e[0] === 'control' && e[1] === 0x8);
  expect(closes.length, 'close frames written').to.equal(closeAt >= 0 || failAt >= 0 ? 1 : 0);
  if (closes.length === 1) {
    expect(output[output.length - 1], 'the close frame is the last frame').to.equal(closes[0]);
    const payload = Buffer.from(closes[0][2] as string, 'hex');
    if (failAt >= 0) {
      expect(payload.readUInt16BE(0), 'failure close code sent').to.equal(events[failAt][1]);
    } else {
      const received = events[closeAt][1] as number;
      // §5.5.1: echo the code; 1005 (no code) is echoed as an empty close frame.
      if (received === 1005) expect(payload.length).to.equal(0);
      else expect(payload.readUInt16BE(0)).to.equal(received);
    }
  }
  expect(output.filter((e) => e[0] === 'message'), 'no data written').to.deep.equal([]);
}

// ---- arbitraries ----------------------------------------------------------------

const cfgArb: fc.Arbitrary<ParserConfig> = fc.record({
  role: fc.constantFrom<Role>('client', 'server'),
  maxPayload: fc.oneof(fc.constant(64 * 1024 * 1024), fc.integer({ min: 0, max: 300 }), fc.constant(65536)),
  allowedRsv: fc.constantFrom(0, 0x40),
  emitFrames: fc.boolean(),
});

const cutsArb = fc.array(fc.nat(), { maxLength: 24 });

const smallBytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** Payload bytes: mostly short, sometimes across the 16- and 64-bit length thresholds. */
const payloadBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 12, arbitrary: smallBytes(200) },
  { weight: 1, arbitrary: fc.integer({ min: 126, max: 70_000 }).map((n) => Buffer.alloc(n, n & 0xff)) },
);

/** Text as UTF-8 bytes, including 4-byte sequences. */
const textBytes: fc.Arbitrary<Buffer> = fc.string({ unit: 'binary', maxLength: 80 }).map((s) => Buffer.from(s, 'utf8'));

const controlArb: fc.Arbitrary<ControlItem> = fc.oneof(
  fc.record({ opcode: fc.constantFrom(0x9, 0xa), payload: smallBytes(125) }),
  // A close frame: code and UTF-8 reason, or empty (the parser does not judge them; the core does).
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.string({ unit: 'binary', maxLength: 40 }))
    .map(([code, reason]) => {
      const r = Buffer.from(reason, 'utf8').subarray(0, 123);
      const b = Buffer.alloc(2 + r.length);
      b.writeUInt16BE(code, 0);
      r.copy(b, 2);
      return { opcode: 0x8, payload: b };
    }),
  fc.constant({ opcode: 0x8, payload: Buffer.alloc(0) }),
);

const messageArb = (allowCompressed: boolean): fc.Arbitrary<StreamItem> =>
  fc
    .record({
      text: fc.boolean(),
      compressed: allowCompressed ? fc.boolean() : fc.constant(false),
      binary: payloadBytes,
      utf8: textBytes,
      cuts: fc.array(fc.nat(), { maxLength: 4 }),
      controls: fc.array(fc.record({ after: fc.nat({ max: 4 }), control: controlArb }), { maxLength: 2 }),
    })
    .map(({ text, compressed, binary, utf8, cuts, controls }) => {
      // Compressed text is opaque to the parser (the extension validates it after inflating).
      const payload = text && !compressed ? utf8 : binary;
      const points = payload.length === 0 ? [] : [...new Set(cuts.map((c) => c % payload.length))].filter((c) => c > 0).sort((a, b) => a - b);
      return { kind: 'message' as const, text, compressed, payload, cuts: points, controls };
    });

/** Valid streams for a configuration: messages and control frames, maxPayload respected. */
export const validArb: fc.Arbitrary<ValidInput> = cfgArb.chain((cfg) =>
  fc.record({
    cfg: fc.constant({ ...cfg, maxPayload: Math.max(cfg.maxPayload, 70_000) }),
    items: fc.array(
      fc.oneof({ weight: 3, arbitrary: messageArb(cfg.allowedRsv === 0x40) }, { weight: 1, arbitrary: controlArb.map((control) => ({ kind: 'control' as const, control })) }),
      { maxLength: 6 },
    ),
    forms: fc.array(fc.constantFrom(0, 0, 0, 1, 2), { minLength: 1, maxLength: 4 }),
    masks: fc.array(
      fc.oneof(fc.constant(Buffer.alloc(4)), fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => Buffer.from(a))),
      { minLength: 1, maxLength: 3 },
    ),
    cuts: cutsArb,
  }),
);

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), pos: fc.nat(), bytes: smallBytes(12) }),
  fc.record({ op: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
  // Header bytes are where the interesting decisions are: hit them often.
  fc.record({ op: fc.constant('header' as const), frame: fc.nat(), at: fc.integer({ min: 0, max: 1 }), value: fc.integer({ min: 0, max: 255 }) }),
);

/** Frame start offsets of a stream built from `input` (for header mutations). */
function frameStarts(input: ValidInput): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const f of buildValid(input).frames) {
    starts.push(at);
    at += f.length;
  }
  return starts;
}

/** Valid streams mutated at random positions (and in frame headers), as raw streams. */
const mutatedArb: fc.Arbitrary<StreamInput> = fc
  .record({ valid: validArb, mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }), maxPayload: cfgArb.map((c) => c.maxPayload) })
  .map(({ valid, mutations, maxPayload }) => ({
    // The mutated stream also meets the configured (maybe small) limit.
    cfg: { ...valid.cfg, maxPayload },
    bytes: mutate(buildValid(valid).bytes, frameStarts(valid), mutations),
    cuts: valid.cuts,
  }));

/** Random bytes, biased towards plausible first header bytes. */
const randomArb: fc.Arbitrary<StreamInput> = fc.record({
  cfg: cfgArb,
  bytes: fc.oneof(
    smallBytes(400),
    fc
      .tuple(fc.constantFrom(0x81, 0x82, 0x01, 0x80, 0x88, 0x89, 0x8a, 0xc1, 0x00), fc.integer({ min: 0, max: 255 }), smallBytes(300))
      .map(([b0, b1, rest]) => Buffer.concat([Buffer.from([b0, b1]), rest])),
  ),
  cuts: cutsArb,
});

const streamCodec = {
  encode: (input: StreamInput): unknown => toJson(input),
  decode: (json: unknown): StreamInput => fromJson(json) as StreamInput,
};

/** The targets, by name (see harness.ts). */
export const targets: Record<string, FuzzTarget<any>> = {
  'frame-parser/valid': {
    arbitrary: validArb,
    check(input: ValidInput) {
      const { bytes, expected } = buildValid(input);
      const events = checkStream({ cfg: input.cfg, bytes, cuts: input.cuts });
      expect(events, 'a valid stream yields exactly what it encodes').to.deep.equal(expected);
    },
    encode: toJson,
    decode: (json: unknown) => fromJson(json) as ValidInput,
  } satisfies FuzzTarget<ValidInput>,
  'frame-parser/mutated': { arbitrary: mutatedArb, check: (i: StreamInput) => void checkStream(i), ...streamCodec } satisfies FuzzTarget<StreamInput>,
  'frame-parser/random': { arbitrary: randomArb, check: (i: StreamInput) => void checkStream(i), ...streamCodec } satisfies FuzzTarget<StreamInput>,
  'frame-parser/strict': { arbitrary: randomArb, check: checkStreamStrict, ...streamCodec } satisfies FuzzTarget<StreamInput>,
  'protocol-core/mutated': {
    arbitrary: mutatedArb.map((i) => ({ ...i, cfg: { ...i.cfg, allowedRsv: 0, emitFrames: false } })),
    check: checkCore,
    ...streamCodec,
  } satisfies FuzzTarget<StreamInput>,
  'protocol-core/random': {
    arbitrary: randomArb.map((i) => ({ ...i, cfg: { ...i.cfg, allowedRsv: 0, emitFrames: false } })),
    check: checkCore,
    ...streamCodec,
  } satisfies FuzzTarget<StreamInput>,
};
