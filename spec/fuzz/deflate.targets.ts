/**
 * Fuzz targets for the permessage-deflate inflater (RFC 7692 §7.2.2), driven
 * through the `Extension` interface as the core drives it: one incoming frame
 * at a time, each decoded (synchronously for small frames, else with zlib in
 * the thread pool) before the next. Inputs: messages compressed here with zlib (sync flush with the
 * `00 00 ff ff` tail removed, or a final block), fragmented at random points,
 * mixed with uncompressed messages; the same mutated; random bytes; and
 * "deflate bombs" against a small `maxPayload`. Properties:
 * - every decode answers exactly once, in bounded time, never throws;
 * - the outcome is the messages, then at most one error with close code 1007
 *   (corrupt data) or 1009 (too big once inflated); no message exceeds
 *   `maxPayload`;
 * - valid input inflates to exactly what was compressed (1009 exactly when a
 *   message is over the limit);
 * - the outcome does not depend on how the messages are fragmented.
 */
import { expect } from 'chai';
import * as fc from 'fast-check';
import * as zlib from 'node:zlib';
import { perMessageDeflate } from '../../lib/protocol/deflate';
import { WebSocketError } from '../../lib/protocol/errors';
import type { Extension, ExtensionFrame, ExtensionParams } from '../../lib/protocol/extension';
import { Mutation, fromJson, mutate, splitAt, toJson } from './bytes';
import type { FuzzTarget } from './harness';

/** One message as it arrives: compressed (RSV1) or not, cut into frames at `cuts`. */
export interface WireMessage {
  compressed: boolean;
  payload: Buffer;
  cuts: number[];
  /** For valid inputs: what it must inflate to (absent when unknown). */
  original?: Buffer;
}

export interface InflateInput {
  role: 'client' | 'server';
  maxPayload: number;
  /** The peer resets its compressor per message (we negotiate client/server_no_context_takeover). */
  peerNoContextTakeover: boolean;
  messages: WireMessage[];
  /** A second fragmentation of the same messages; the outcome must not change. */
  otherCuts: number[][];
}

/** How a run ended. */
interface Outcome {
  messages: string[];
  error?: { closeCode: number; code: string };
}

const DECODE_TIMEOUT_MS = 3000;

function makeExtension(input: InflateInput): Extension {
  const ext = perMessageDeflate({})({ role: input.role, maxPayload: input.maxPayload });
  if (input.role === 'server') {
    // The client's offer: §7.1.1.2, the client says it will reset its context.
    const offer: ExtensionParams = input.peerNoContextTakeover ? { client_no_context_takeover: true } : {};
    const params = ext.acceptOffer([offer]);
    if (params === null) throw new Error('test setup: the server declined a plain offer');
  } else {
    const response: ExtensionParams = input.peerNoContextTakeover ? { server_no_context_takeover: true } : {};
    const why = ext.accept(response);
    if (why !== null) throw new Error(`test setup: the client refused the response: ${why}`);
  }
  return ext;
}

/** Decodes one frame; resolves with the sink's answer, which must come exactly once. */
function decodeOnce(ext: Extension, frame: ExtensionFrame): Promise<ExtensionFrame | WebSocketError> {
  return new Promise((resolve, reject) => {
    let answers = 0;
    const timer = setTimeout(() => reject(new Error(`decode did not answer within ${DECODE_TIMEOUT_MS} ms`)), DECODE_TIMEOUT_MS);
    const answer = (r: ExtensionFrame | WebSocketError): void => {
      answers++;
      if (answers > 1) {
        reject(new Error('the sink was called twice for one frame'));
        return;
      }
      clearTimeout(timer);
      // Let a second (wrong) answer show up before resolving.
      setImmediate(() => (answers === 1 ? resolve(r) : undefined));
    };
    ext.decode(frame, { next: answer, error: answer });
  });
}

async function run(input: InflateInput, cuts: number[][]): Promise<Outcome> {
  const ext = makeExtension(input);
  const out: Outcome = { messages: [] };
  try {
    for (let m = 0; m < input.messages.length; m++) {
      const msg = input.messages[m];
      const pieces = splitAt(msg.payload, cuts[m] ?? []);
      const parts: Buffer[] = [];
      for (let i = 0; i < pieces.length; i++) {
        const frame: ExtensionFrame = {
          opcode: i === 0 ? 0x2 : 0x0,
          fin: i === pieces.length - 1,
          rsv: i === 0 && msg.compressed ? 0x40 : 0,
          payload: Buffer.from(pieces[i]),
        };
        const r = await decodeOnce(ext, frame);
        if (r instanceof Error) {
          expect(r, 'decode errors are WebSocketErrors').to.be.instanceOf(WebSocketError);
          out.error = { closeCode: r.closeCode, code: r.code };
          return out;
        }
        expect(r.rsv & 0x40, 'RSV1 cleared after decoding').to.equal(0);
        expect([r.opcode, r.fin]).to.deep.equal([frame.opcode, frame.fin]);
        parts.push(r.payload);
      }
      const data = Buffer.concat(parts);
      // (An uncompressed message passes through: its size is the parser's to check.)
      if (msg.compressed) expect(data.length, 'inflated message within maxPayload').to.be.at.most(input.maxPayload);
      out.messages.push(data.toString('hex'));
    }
    return out;
  } finally {
    ext.dispose();
  }
}

async function checkInflate(input: InflateInput): Promise<void> {
  const first = await run(input, input.messages.map((m) => m.cuts));
  if (first.error) expect([1007, 1009], `close code of ${first.error.code}`).to.include(first.error.closeCode);
  // Valid messages: exactly the original, or 1009 at the first one over the limit.
  if (input.messages.every((m) => m.original !== undefined)) {
    const expected: Outcome = { messages: [] };
    for (const m of input.messages) {
      if (m.compressed && m.original!.length > input.maxPayload) {
        expected.error = { closeCode: 1009, code: 'WS_ERR_MESSAGE_TOO_BIG' };
        break;
      }
      expected.messages.push(m.original!.toString('hex'));
    }
    expect(first, 'valid input inflates to the original').to.deep.equal(expected);
  }
  const second = await run(input, input.otherCuts);
  // Same messages, and an error in the same place. Its code may differ: data
  // that inflates past the limit and then turns out corrupt fails with 1009
  // when the corrupt part comes in a later frame, but with 1007 when zlib sees
  // it in the same write (it reports the error and drops that write's output).
  expect(second.messages, 'the messages do not depend on the fragmentation').to.deep.equal(first.messages);
  expect(second.error !== undefined, 'whether it fails does not depend on the fragmentation').to.equal(first.error !== undefined);
  if (second.error) expect([1007, 1009]).to.include(second.error.closeCode);
}

// ---- arbitraries ----------------------------------------------------------------

/** Compressible content: text-like runs, random bytes, or long runs of one byte. */
const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ab cd\n'), maxLength: 400 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 200_000 })).map(([b, n]) => Buffer.alloc(n, b)),
);

/** §7.2.1: compress with a sync flush and drop the `00 00 ff ff` tail; or end with a final block. */
function compress(data: Buffer, final: boolean, level: number): Buffer {
  if (final) return zlib.deflateRawSync(data, { level });
  const out = zlib.deflateRawSync(data, { level, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

const wireCutsArb = fc.array(fc.nat(), { maxLength: 5 });

const validMessageArb: fc.Arbitrary<WireMessage> = fc
  .record({
    content: contentArb,
    compressed: fc.boolean(),
    final: fc.boolean(),
    level: fc.constantFrom(0, 1, 6, 9),
    cuts: wireCutsArb,
  })
  .map(({ content, compressed, final, level, cuts }) => ({
    compressed,
    payload: compressed ? compress(content, final, level) : content,
    cuts,
    original: content,
  }));

const maxPayloadArb = fc.oneof(fc.constant(64 * 1024 * 1024), fc.integer({ min: 0, max: 5000 }), fc.constant(65536));

function inputArb(messageArb: fc.Arbitrary<WireMessage>): fc.Arbitrary<InflateInput> {
  return fc
    .record({
      role: fc.constantFrom<'client' | 'server'>('client', 'server'),
      maxPayload: maxPayloadArb,
      peerNoContextTakeover: fc.boolean(),
      messages: fc.array(messageArb, { minLength: 1, maxLength: 4 }),
      otherCuts: fc.array(wireCutsArb, { minLength: 4, maxLength: 4 }),
    });
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)) }),
  fc.record({ op: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
);

/** Valid messages, some compressed payloads mutated (the original is then unknown). */
const mutatedMessageArb: fc.Arbitrary<WireMessage> = fc
  .tuple(validMessageArb, fc.array(mutationArb, { maxLength: 3 }))
  .map(([m, muts]) =>
    muts.length === 0 || !m.compressed ? m : { compressed: true, payload: mutate(m.payload, [], muts), cuts: m.cuts },
  );

const randomMessageArb: fc.Arbitrary<WireMessage> = fc.record({
  compressed: fc.constant(true),
  payload: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  cuts: wireCutsArb,
});

const codec = {
  encode: (i: InflateInput): unknown => toJson(i),
  decode: (j: unknown): InflateInput => fromJson(j) as InflateInput,
};

/** The targets, by name (see harness.ts). */
export const targets: Record<string, FuzzTarget<any>> = {
  'inflate/valid': { arbitrary: inputArb(validMessageArb), check: checkInflate, async: true, ...codec } satisfies FuzzTarget<InflateInput>,
  'inflate/mutated': { arbitrary: inputArb(mutatedMessageArb), check: checkInflate, async: true, ...codec } satisfies FuzzTarget<InflateInput>,
  'inflate/random': { arbitrary: inputArb(randomMessageArb), check: checkInflate, async: true, ...codec } satisfies FuzzTarget<InflateInput>,
};
