/**
 * permessage-deflate (RFC 7692), written as an {@link Extension}.
 *
 * Negotiation (§7.1): all four parameters, on both sides; several offers in
 * one header (§5.1) are tried in order and the first one this side can honour
 * is accepted; an offer with an unknown parameter or an invalid value is
 * declined (§7.1: "A server MUST decline ... if ... the negotiation offer
 * contains an extension parameter not defined for use in an offer / with an
 * invalid value"). A client fails a response that accepts something it did
 * not offer or that breaks §7.1.1–§7.1.2.
 *
 * Data (§7.2): a compressed message has RSV1 on its first frame only (§6.1);
 * the compressor output of a message ends with a sync flush whose
 * `00 00 ff ff` tail is removed on the wire (§7.2.1) and appended again before
 * inflating (§7.2.2). Frames of a message are compressed and inflated one at a
 * time, so fragmented messages work both ways. Messages smaller than
 * `threshold` go out uncompressed.
 *
 * zlib is the one asynchronous step of the core: it runs in the thread pool.
 * Every zlib operation goes through a process-wide {@link Limiter} (ws
 * `lib/limiter.js`; see there for why). The inflated size is checked on every
 * chunk zlib produces, so a small "deflate bomb" fails with 1009 as soon as
 * it passes `maxPayload`, with memory bounded by the limit. Corrupt
 * compressed data fails with 1007 (the payload cannot be decoded, like
 * invalid UTF-8; ws does the same).
 */
import * as zlib from 'node:zlib';
import { InvalidPayloadError, MessageTooBigError, WebSocketError } from './errors';
import type { Extension, ExtensionContext, ExtensionFactory, ExtensionFrame, ExtensionParams, ExtensionSink } from './extension';
import { Limiter } from './limiter';

/** The extension token. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** §7.2.2: what the sender removed from the end of each message. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const RSV1 = 0x40;
const EMPTY = Buffer.alloc(0);

/** Settings of permessage-deflate, for `listen` and `connect` (names as in ws). */
export interface PerMessageDeflateOptions {
  /**
   * Server: `true` always resets the server's compression context after each
   * message (and says so); `false` declines offers that ask for it.
   * Client: `true` asks the server to reset its context.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: `true` asks the client to reset its context after each message.
   * Client: `true` offers to reset it (and does).
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window (8–15) the server compresses with; `false`
   * declines offers that limit it. Client: a number asks the server to use at
   * most that window.
   */
  serverMaxWindowBits?: number | boolean;
  /**
   * Client: `true` (the default) tells the server it may limit the client's
   * window; a number also limits it ourselves; `false` offers nothing.
   * Server: a number makes the client use at most that window (offers that
   * do not allow it are declined); `false` never limits it.
   */
  clientMaxWindowBits?: number | boolean;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level (0–9). Default `zlib.constants.Z_DEFAULT_COMPRESSION`. */
  level?: number;
  /** zlib memLevel (1–9). Default 8. */
  memLevel?: number;
  /** More zlib options for the compressor (`strategy`, `chunkSize`...). */
  zlibDeflateOptions?: zlib.ZlibOptions;
  /** More zlib options for the decompressor (`chunkSize`...). */
  zlibInflateOptions?: zlib.ZlibOptions;
  /**
   * Most zlib operations running at once in this process (shared by every
   * connection; the first connection's setting wins, as in ws). Default 10.
   */
  concurrencyLimit?: number;
}

const KNOWN = new Set(['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits']);
const BITS = /^(?:[89]|1[0-5])$/;

let zlibLimiter: Limiter | undefined;
function limiter(concurrency: number): Limiter {
  if (zlibLimiter === undefined) zlibLimiter = new Limiter(concurrency);
  return zlibLimiter;
}

/** The process-wide zlib limiter, once a deflate extension has been created (for tests and metrics). */
export function deflateLimiter(): Limiter | undefined {
  return zlibLimiter;
}

/** What a parsed, valid permessage-deflate element says. */
interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Absent: undefined; present without a value: true. */
  serverMaxWindowBits: number | true | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Parses one element's parameters (§7.1). In an offer,
 * `client_max_window_bits` may come without a value; in a response every
 * window parameter needs one. Returns a reason string when invalid.
 */
function parseParams(params: ExtensionParams, response: boolean): DeflateParams | string {
  const out: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (!KNOWN.has(name)) return `unknown parameter "${name}"`;
    if (name === 'server_no_context_takeover' || name === 'client_no_context_takeover') {
      if (value !== true) return `parameter "${name}" takes no value`;
      if (name === 'server_no_context_takeover') out.serverNoContextTakeover = true;
      else out.clientNoContextTakeover = true;
      continue;
    }
    let bits: number | true;
    if (value === true) {
      // §7.1.2.1: server_max_window_bits always has a value; §7.1.2.2:
      // client_max_window_bits may omit it in an offer only.
      if (name === 'server_max_window_bits' || response) return `parameter "${name}" needs a value`;
      bits = true;
    } else {
      if (!BITS.test(value)) return `invalid value "${value}" for "${name}" (8 to 15)`;
      bits = Number(value);
    }
    if (name === 'server_max_window_bits') out.serverMaxWindowBits = bits;
    else out.clientMaxWindowBits = bits;
  }
  return out;
}

function checkBits(v: number | boolean | undefined, name: string): void {
  if (typeof v === 'number' && !(Number.isInteger(v) && v >= 8 && v <= 15)) {
    throw new RangeError(`perMessageDeflate.${name} must be an integer from 8 to 15`);
  }
}

/** Validates options and makes a factory for `listen`/`connect`'s `extensions`. */
export function perMessageDeflate(options: PerMessageDeflateOptions | boolean = {}): ExtensionFactory {
  const opts: PerMessageDeflateOptions = typeof options === 'object' ? { ...options } : {};
  checkBits(opts.serverMaxWindowBits, 'serverMaxWindowBits');
  checkBits(opts.clientMaxWindowBits, 'clientMaxWindowBits');
  return (context) => new PerMessageDeflate(opts, context);
}

/**
 * Several alternative client offers (RFC 7692 §5.1), most preferred first.
 * Settings that are not negotiated (threshold, zlib options) come from the
 * first element.
 */
export function perMessageDeflateOffers(offers: PerMessageDeflateOptions[]): ExtensionFactory {
  if (offers.length === 0) throw new RangeError('perMessageDeflate: at least one offer');
  for (const o of offers) {
    checkBits(o.serverMaxWindowBits, 'serverMaxWindowBits');
    checkBits(o.clientMaxWindowBits, 'clientMaxWindowBits');
  }
  const copies = offers.map((o) => ({ ...o }));
  return (context) => new PerMessageDeflate(copies[0], context, copies);
}

/** The extension on one connection. See the module comment. */
export class PerMessageDeflate implements Extension {
  readonly name = PERMESSAGE_DEFLATE;
  readonly rsv = RSV1;
  params: ExtensionParams = {};

  private readonly options: PerMessageDeflateOptions;
  private readonly alternatives: PerMessageDeflateOptions[];
  private readonly role: 'client' | 'server';
  private readonly maxPayload: number;
  private readonly threshold: number;
  private readonly limiter: Limiter;
  private disposed = false;

  // Agreed settings, from our side's point of view.
  private ownWindowBits = 15;
  private ownNoContextTakeover = false;
  private peerNoContextTakeover = false;

  // Incoming.
  private inflate: zlib.InflateRaw | null = null;
  private inCompressed = false;
  private inLength = 0;
  private inChunks: Buffer[] = [];
  private inBytes = 0;
  private inFrame: ExtensionFrame | null = null;
  private inSink: ExtensionSink | null = null;
  private inDone: (() => void) | null = null;
  private readonly inflateJob: (done: () => void) => void;
  private readonly inflateFlushed: () => void;

  // Outgoing.
  private deflate: zlib.DeflateRaw | null = null;
  private outCompressed = false;
  private outChunks: Buffer[] = [];
  private outBytes = 0;
  private outFrame: ExtensionFrame | null = null;
  private outSink: ExtensionSink | null = null;
  private outDone: (() => void) | null = null;
  private readonly deflateJob: (done: () => void) => void;
  private readonly deflateFlushed: () => void;

  constructor(options: PerMessageDeflateOptions, context: ExtensionContext, alternatives?: PerMessageDeflateOptions[]) {
    this.options = options;
    this.alternatives = alternatives ?? [options];
    this.role = context.role;
    this.maxPayload = context.maxPayload;
    this.threshold = options.threshold ?? 1024;
    this.limiter = limiter(options.concurrencyLimit ?? 10);
    // Bound once per connection, not per message.
    this.inflateJob = (done) => this.startInflate(done);
    this.inflateFlushed = () => this.finishInflate();
    this.deflateJob = (done) => this.startDeflate(done);
    this.deflateFlushed = () => this.finishDeflate();
  }

  // ---- negotiation -------------------------------------------------------

  offer(): ExtensionParams[] {
    return this.alternatives.map(offerParams);
  }

  accept(response: ExtensionParams): string | null {
    const r = parseParams(response, true);
    if (typeof r === 'string') return r;
    let why = 'no offer matches the response';
    for (const o of this.alternatives) {
      const mismatch = responseMismatch(o, r);
      if (mismatch !== null) {
        why = mismatch;
        continue;
      }
      // Our (client) compressor: the window the server allowed, else our own limit.
      this.ownWindowBits =
        typeof r.clientMaxWindowBits === 'number'
          ? r.clientMaxWindowBits
          : typeof o.clientMaxWindowBits === 'number'
            ? o.clientMaxWindowBits
            : 15;
      this.ownNoContextTakeover = r.clientNoContextTakeover || o.clientNoContextTakeover === true;
      this.peerNoContextTakeover = r.serverNoContextTakeover;
      this.params = { ...response };
      return null;
    }
    return why;
  }

  acceptOffer(offers: ExtensionParams[]): ExtensionParams | null {
    const o = this.options;
    for (const raw of offers) {
      const p = parseParams(raw, false);
      if (typeof p === 'string') continue; // §7.1: decline an invalid offer
      // Things this server cannot honour: decline the offer.
      if (o.serverNoContextTakeover === false && p.serverNoContextTakeover) continue;
      if (o.serverMaxWindowBits === false && p.serverMaxWindowBits !== undefined) continue;
      if (typeof o.clientMaxWindowBits === 'number' && p.clientMaxWindowBits === undefined) continue;

      const params: ExtensionParams = {};
      const serverNoCtx = p.serverNoContextTakeover || o.serverNoContextTakeover === true;
      if (serverNoCtx) params.server_no_context_takeover = true;
      // §7.1.1.2: a server may ask for client_no_context_takeover even unoffered.
      if (o.clientNoContextTakeover === true || (p.clientNoContextTakeover && o.clientNoContextTakeover !== false)) {
        params.client_no_context_takeover = true;
      }
      // §7.1.2.1: answer a server_max_window_bits offer with the same or a
      // smaller value; a server may also limit itself unasked.
      let serverBits = typeof o.serverMaxWindowBits === 'number' ? o.serverMaxWindowBits : 15;
      if (typeof p.serverMaxWindowBits === 'number' && p.serverMaxWindowBits < serverBits) serverBits = p.serverMaxWindowBits;
      if (p.serverMaxWindowBits !== undefined || typeof o.serverMaxWindowBits === 'number') {
        params.server_max_window_bits = String(serverBits);
      }
      // §7.1.2.2: client_max_window_bits only when the client offered it.
      let clientBits: number | undefined;
      if (p.clientMaxWindowBits !== undefined && o.clientMaxWindowBits !== false) {
        if (typeof o.clientMaxWindowBits === 'number') {
          clientBits = o.clientMaxWindowBits;
          if (typeof p.clientMaxWindowBits === 'number' && p.clientMaxWindowBits < clientBits) clientBits = p.clientMaxWindowBits;
        } else if (typeof p.clientMaxWindowBits === 'number') {
          clientBits = p.clientMaxWindowBits;
        }
      }
      if (clientBits !== undefined) params.client_max_window_bits = String(clientBits);

      this.ownWindowBits = serverBits;
      this.ownNoContextTakeover = serverNoCtx;
      this.peerNoContextTakeover = params.client_no_context_takeover === true;
      this.params = params;
      return params;
    }
    return null;
  }

  // ---- incoming ----------------------------------------------------------

  decode(frame: ExtensionFrame, sink: ExtensionSink): void {
    // §6.1: RSV1 on the first frame marks the whole message (the parser has
    // refused RSV1 on continuation and control frames already).
    if (frame.opcode !== 0) this.inCompressed = (frame.rsv & RSV1) !== 0;
    if (!this.inCompressed) {
      sink.next(frame);
      return;
    }
    frame.rsv &= ~RSV1;
    this.inFrame = frame;
    this.inSink = sink;
    this.limiter.add(this.inflateJob);
  }

  private startInflate(done: () => void): void {
    if (this.disposed || this.inFrame === null) {
      done();
      return;
    }
    this.inDone = done;
    let inflate = this.inflate;
    if (inflate === null) {
      // A larger window than the peer's always decodes: 15 is safe whatever
      // server/client_max_window_bits says.
      inflate = zlib.createInflateRaw({ ...this.options.zlibInflateOptions, windowBits: 15 });
      (inflate as Tagged).owner = this;
      inflate.on('data', inflateOnData);
      inflate.on('error', inflateOnError);
      this.inflate = inflate;
    }
    this.inChunks = [];
    this.inBytes = 0;
    const frame = this.inFrame;
    inflate.write(frame.payload);
    if (frame.fin) inflate.write(TRAILER);
    inflate.flush(this.inflateFlushed);
  }

  /** @internal A chunk of inflated data: check the limit as it grows. */
  inflated(chunk: Buffer): void {
    if (this.inFrame === null) return;
    this.inLength += chunk.length;
    if (this.inLength > this.maxPayload) {
      this.abortInflate(
        new MessageTooBigError(`inflated message exceeds the limit of ${this.maxPayload} bytes`, this.maxPayload),
      );
      return;
    }
    this.inChunks.push(chunk);
    this.inBytes += chunk.length;
  }

  /** @internal zlib refused the data. */
  inflateError(error: Error): void {
    this.abortInflate(new InvalidPayloadError(`invalid compressed data: ${error.message}`, 'WS_ERR_INVALID_COMPRESSED_DATA'));
  }

  private abortInflate(error: WebSocketError): void {
    const inflate = this.inflate;
    this.inflate = null;
    if (inflate !== null) {
      // Stop zlib now: destroying from inside a data callback makes zlib
      // skip the rest of its input, so memory stays bounded.
      inflate.removeListener('data', inflateOnData);
      inflate.close();
    }
    const sink = this.inSink;
    this.releaseInflate();
    if (sink !== null) sink.error(error);
  }

  private finishInflate(): void {
    const frame = this.inFrame;
    const inflate = this.inflate;
    if (frame === null || inflate === null || this.disposed) return;
    const data = this.inBytes === 0 ? EMPTY : this.inChunks.length === 1 ? this.inChunks[0] : Buffer.concat(this.inChunks, this.inBytes);
    this.inChunks = [];
    if (frame.fin) {
      this.inLength = 0;
      const state = (inflate as unknown as { _readableState?: { ended?: boolean } })._readableState;
      if (state?.ended || inflate.readableEnded) {
        // The peer ended the deflate stream (a BFINAL block): start afresh.
        this.inflate = null;
        inflate.close();
      } else if (this.peerNoContextTakeover) {
        // §7.1.1: the peer starts each message with an empty window.
        inflate.reset();
      }
    }
    frame.payload = data;
    const sink = this.inSink!;
    this.releaseInflate();
    sink.next(frame);
  }

  private releaseInflate(): void {
    this.inFrame = null;
    this.inSink = null;
    this.inChunks = [];
    this.inBytes = 0;
    const done = this.inDone;
    this.inDone = null;
    if (done !== null) done();
  }

  // ---- outgoing ----------------------------------------------------------

  encode(frame: ExtensionFrame, sink: ExtensionSink): void {
    // The first frame decides for the whole message.
    if (frame.opcode !== 0) this.outCompressed = frame.payload.length >= this.threshold;
    if (!this.outCompressed) {
      sink.next(frame);
      return;
    }
    if (frame.opcode !== 0) frame.rsv |= RSV1;
    this.outFrame = frame;
    this.outSink = sink;
    this.limiter.add(this.deflateJob);
  }

  private startDeflate(done: () => void): void {
    if (this.disposed || this.outFrame === null) {
      done();
      return;
    }
    this.outDone = done;
    let deflate = this.deflate;
    if (deflate === null) {
      // zlib turns a raw window of 8 into 9, which still only references
      // 256 bytes back (node's zlib docs), so the peer's limit holds.
      deflate = zlib.createDeflateRaw({
        level: this.options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION,
        memLevel: this.options.memLevel ?? 8,
        ...this.options.zlibDeflateOptions,
        windowBits: this.ownWindowBits,
      });
      (deflate as Tagged).owner = this;
      deflate.on('data', deflateOnData);
      deflate.on('error', deflateOnError);
      this.deflate = deflate;
    }
    this.outChunks = [];
    this.outBytes = 0;
    deflate.write(this.outFrame.payload);
    deflate.flush(zlib.constants.Z_SYNC_FLUSH, this.deflateFlushed);
  }

  /** @internal */
  deflated(chunk: Buffer): void {
    this.outChunks.push(chunk);
    this.outBytes += chunk.length;
  }

  /** @internal */
  deflateError(error: Error): void {
    const deflate = this.deflate;
    this.deflate = null;
    deflate?.close();
    const sink = this.outSink;
    this.releaseDeflate();
    sink?.error(new WebSocketError(`compression failed: ${error.message}`, 'WS_ERR_DEFLATE', 1011));
  }

  private finishDeflate(): void {
    const frame = this.outFrame;
    const deflate = this.deflate;
    if (frame === null || deflate === null || this.disposed) return;
    let data = this.outChunks.length === 1 ? this.outChunks[0] : Buffer.concat(this.outChunks, this.outBytes);
    if (frame.fin) {
      // §7.2.1: remove the 00 00 ff ff that ends the sync flush.
      if (data.length >= 4) data = data.subarray(0, data.length - 4);
      if (this.ownNoContextTakeover) deflate.reset();
    }
    frame.payload = data;
    const sink = this.outSink!;
    this.releaseDeflate();
    sink.next(frame);
  }

  private releaseDeflate(): void {
    this.outFrame = null;
    this.outSink = null;
    this.outChunks = [];
    this.outBytes = 0;
    const done = this.outDone;
    this.outDone = null;
    if (done !== null) done();
  }

  /** @internal */
  get currentInflate(): unknown {
    return this.inflate;
  }

  /** @internal */
  get currentDeflate(): unknown {
    return this.deflate;
  }

  // ---- lifetime ----------------------------------------------------------

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.inflate !== null) {
      this.inflate.close();
      this.inflate = null;
    }
    if (this.deflate !== null) {
      this.deflate.close();
      this.deflate = null;
    }
    // Free the limiter slots of work that will never report.
    this.inSink = null;
    this.outSink = null;
    this.releaseInflate();
    this.releaseDeflate();
  }
}

type Tagged = { owner?: PerMessageDeflate };

// Module-level listeners (state on the owner, ws `inflateOnData`). A stream
// that was replaced or closed reports nothing.
function inflateOnData(this: Tagged, chunk: Buffer): void {
  const owner = this.owner!;
  if (owner.currentInflate === this) owner.inflated(chunk);
}
function inflateOnError(this: Tagged, error: Error): void {
  const owner = this.owner!;
  if (owner.currentInflate === this) owner.inflateError(error);
}
function deflateOnData(this: Tagged, chunk: Buffer): void {
  const owner = this.owner!;
  if (owner.currentDeflate === this) owner.deflated(chunk);
}
function deflateOnError(this: Tagged, error: Error): void {
  const owner = this.owner!;
  if (owner.currentDeflate === this) owner.deflateError(error);
}

/** The offer parameters for one set of client options. */
function offerParams(o: PerMessageDeflateOptions): ExtensionParams {
  const params: ExtensionParams = {};
  if (o.serverNoContextTakeover === true) params.server_no_context_takeover = true;
  if (o.clientNoContextTakeover === true) params.client_no_context_takeover = true;
  if (typeof o.serverMaxWindowBits === 'number') params.server_max_window_bits = String(o.serverMaxWindowBits);
  if (typeof o.clientMaxWindowBits === 'number') params.client_max_window_bits = String(o.clientMaxWindowBits);
  else if (o.clientMaxWindowBits !== false) params.client_max_window_bits = true;
  return params;
}

/** Why a (valid) response does not answer client offer `o`, or null if it does (§7.1). */
function responseMismatch(o: PerMessageDeflateOptions, r: DeflateParams): string | null {
  // §7.1.1.1: a server accepting server_no_context_takeover must say so.
  if (o.serverNoContextTakeover === true && !r.serverNoContextTakeover) return 'expected server_no_context_takeover';
  // §7.1.2.1: server_max_window_bits, if offered, comes back with the same or a smaller value.
  if (typeof o.serverMaxWindowBits === 'number') {
    if (r.serverMaxWindowBits === undefined) return 'expected server_max_window_bits';
    if ((r.serverMaxWindowBits as number) > o.serverMaxWindowBits) return 'server_max_window_bits larger than offered';
  }
  // §7.1.2.2: client_max_window_bits only if offered.
  if (r.clientMaxWindowBits !== undefined) {
    if (o.clientMaxWindowBits === false) return 'client_max_window_bits was not offered';
    if (typeof o.clientMaxWindowBits === 'number' && (r.clientMaxWindowBits as number) > o.clientMaxWindowBits) {
      return 'client_max_window_bits larger than offered';
    }
  }
  return null;
}
