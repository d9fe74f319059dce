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
 * zlib work runs in one of two ways, on the same persistent zlib stream per
 * direction (so the LZ77 window carries over between messages either way):
 * - Synchronously, for small frames: an incoming compressed frame of at most
 *   {@link SYNC_INFLATE_MAX} bytes, an outgoing frame of at most
 *   {@link SYNC_DEFLATE_MAX} bytes. For a message of a few KiB the thread-pool
 *   round trip and the stream machinery cost far more than zlib itself. A
 *   connection inflates at most {@link SYNC_INFLATE_BUDGET} bytes
 *   synchronously in one synchronous run: an inflate that goes past it stops
 *   there and goes on asynchronously with the rest of its input, and later
 *   frames in that run take the thread pool. So neither a small frame that
 *   inflates to megabytes (a "deflate bomb") nor a read full of small
 *   frames that each inflate to a lot holds the event loop for longer than
 *   that budget. An outgoing frame is compressed in a microtask, not inside
 *   the send call (frames the core hands on during that microtask are
 *   compressed at once): a send never runs zlib, and a burst of sends is
 *   compressed in one go; as with the thread pool, data sent just before the
 *   connection fails, in the same synchronous run, is reported undelivered
 *   rather than written.
 * - Asynchronously, in the thread pool, for larger frames (and the rest of an
 *   inflate that went over the budget). Every such operation goes through a
 *   process-wide {@link Limiter} (ws `lib/limiter.js`; see there for why).
 * The core hands an extension one frame at a time per direction and waits for
 * its result, so there is never more than one operation on a stream, and
 * frames keep their order whichever way each one ran. The synchronous path
 * uses Node internals (see `zlibSync`); without them everything takes the
 * asynchronous path, as before.
 *
 * The inflated size is checked on every chunk zlib produces, so a small
 * "deflate bomb" fails with 1009 as soon as it passes `maxPayload`, with
 * memory bounded by the limit. Corrupt compressed data fails with 1007 (the
 * payload cannot be decoded, like invalid UTF-8; ws does the same), on either
 * path.
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

/**
 * Outgoing frames of at most this many bytes are compressed synchronously
 * (see the module comment). Compressing costs far more than inflating (level
 * 6, on this machine: ~8 µs for 2 KiB of text, ~35 µs for 8 KiB, ~60 µs for
 * 16 KiB, and several times that for incompressible bytes), while the thread
 * pool costs the event loop some 10–50 µs per operation whatever the size:
 * past a few KiB, a busy server's event loop does better handing the work
 * to the pool.
 */
export const SYNC_DEFLATE_MAX = 8 * 1024;
/**
 * Incoming compressed frames of at most this many bytes are inflated
 * synchronously (see the module comment). DEFLATE expands at most ~1032:1.
 */
export const SYNC_INFLATE_MAX = 8 * 1024;
/**
 * Most bytes a connection inflates synchronously in one synchronous run (a
 * read from the socket and what it decodes, say): about a millisecond of
 * zlib work. Past it, the frame under way and the ones after it go to the
 * thread pool until the run ends (a microtask resets the count).
 */
export const SYNC_INFLATE_BUDGET = 512 * 1024;

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
  /** A synchronous inflate went over its budget: the input still to inflate, in the thread pool. */
  private inRest: Buffer | null = null;
  /** The synchronous path saw the end of the DEFLATE stream (a BFINAL block). */
  private inEnded = false;
  /** `inflate` can be driven synchronously (Node's internals are there). */
  private inflateSyncable = false;
  /** Bytes inflated synchronously in this synchronous run (see SYNC_INFLATE_BUDGET). */
  private inSpent = 0;
  /** A microtask will reset `inSpent`. */
  private inSpentReset = false;
  private readonly resetSpent: () => void;
  private readonly inflateJob: (done: () => void) => void;
  private readonly inflateFlushed: () => void;
  private readonly inflatedSync: (chunk: Buffer) => boolean;

  // Outgoing.
  private deflate: zlib.DeflateRaw | null = null;
  private outCompressed = false;
  private outChunks: Buffer[] = [];
  private outBytes = 0;
  private outFrame: ExtensionFrame | null = null;
  private outSink: ExtensionSink | null = null;
  private outDone: (() => void) | null = null;
  /** `deflate` can be driven synchronously (Node's internals are there). */
  private deflateSyncable = false;
  /** Inside {@link deflateDeferred}: frames handed on now are compressed at once. */
  private outBatch = false;
  private readonly deflateDeferred: () => void;
  private readonly deflateJob: (done: () => void) => void;
  private readonly deflateFlushed: () => void;
  private readonly deflatedSync: (chunk: Buffer) => boolean;

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
    this.inflatedSync = (chunk) => {
      this.inSpent += chunk.length;
      if (!this.inSpentReset) {
        this.inSpentReset = true;
        queueMicrotask(this.resetSpent);
      }
      this.inflated(chunk);
      return this.inFrame !== null; // false: it went over maxPayload (reported)
    };
    this.resetSpent = () => {
      this.inSpent = 0;
      this.inSpentReset = false;
    };
    this.deflatedSync = (chunk) => {
      this.deflated(chunk);
      return true;
    };
    this.deflateDeferred = () => {
      const frame = this.outFrame;
      const deflate = this.deflate;
      if (frame === null || deflate === null || this.disposed) return; // dropped meanwhile
      this.outBatch = true;
      try {
        this.deflateNow(deflate, frame);
      } finally {
        this.outBatch = false;
      }
    };
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
    // The core waits for each result, so nothing runs on the stream now
    // (`inDone` null: no job holds it); small frames are inflated at once,
    // within this run's budget.
    const budget = SYNC_INFLATE_BUDGET - this.inSpent;
    if (frame.payload.length <= SYNC_INFLATE_MAX && budget > 0 && this.inDone === null && !this.disposed) {
      const inflate = this.inflateStream();
      if (this.inflateSyncable && idle(inflate)) {
        this.inflateNow(inflate, frame, budget);
        return;
      }
    }
    this.limiter.add(this.inflateJob);
  }

  /** The inflater, made on first use. */
  private inflateStream(): zlib.InflateRaw {
    let inflate = this.inflate;
    if (inflate === null) {
      // A larger window than the peer's always decodes: 15 is safe whatever
      // server/client_max_window_bits says.
      inflate = zlib.createInflateRaw({ ...this.options.zlibInflateOptions, windowBits: 15 });
      (inflate as Tagged).owner = this;
      inflate.on('data', inflateOnData);
      inflate.on('error', inflateOnError);
      this.inflate = inflate;
      this.inEnded = false;
      this.inflateSyncable = syncCapable(inflate);
    }
    return inflate;
  }

  /**
   * Inflates `frame` synchronously, up to about `budget` bytes of output; the
   * rest, if any, goes to the thread pool.
   */
  private inflateNow(inflate: zlib.InflateRaw, frame: ExtensionFrame, budget: number): void {
    this.inChunks = [];
    this.inBytes = 0;
    // One zlib call for the frame and the §7.2.2 tail (a copy of at most
    // SYNC_INFLATE_MAX bytes is cheaper than a second call).
    const input = frame.fin ? Buffer.concat([frame.payload, TRAILER], frame.payload.length + 4) : frame.payload;
    let status: number;
    try {
      status = zlibSync(inflate, input, zlib.constants.Z_SYNC_FLUSH, this.inflatedSync, budget);
    } catch (error) {
      if (inflate.destroyed) {
        this.inflateError(error as Error); // zlib refused the data: 1007
      } else {
        // Not zlib's doing (Node's internals changed?): the stream's state
        // is unknown, so this message cannot be decoded.
        this.abortInflate(new WebSocketError(`decompression failed: ${(error as Error).message}`, 'WS_ERR_INFLATE', 1011));
      }
      return;
    }
    if (status === SYNC_STOPPED) return; // over maxPayload: reported
    if (status === SYNC_PAUSED) {
      // Over the budget: finish the frame in the thread pool.
      this.inRest = syncRest;
      syncRest = EMPTY;
      this.limiter.add(this.inflateJob);
      return;
    }
    if (status === SYNC_ENDED) this.inEnded = true;
    this.finishInflate();
  }

  private startInflate(done: () => void): void {
    if (this.disposed || this.inFrame === null) {
      done();
      return;
    }
    this.inDone = done;
    const inflate = this.inflateStream();
    const frame = this.inFrame;
    const rest = this.inRest;
    if (rest !== null) {
      // The rest of a frame that started synchronously (its tail included).
      this.inRest = null;
      if (rest.length > 0) inflate.write(rest);
    } else {
      this.inChunks = [];
      this.inBytes = 0;
      inflate.write(frame.payload);
      if (frame.fin) inflate.write(TRAILER);
    }
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
      if (this.inEnded || state?.ended || inflate.readableEnded) {
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
    this.inRest = null;
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
    // As for decode, nothing runs on the stream now (the core waits for each
    // result). A small frame is compressed synchronously, in a microtask
    // unless one of ours is running (see the module comment).
    if (frame.payload.length <= SYNC_DEFLATE_MAX && this.outDone === null && !this.disposed) {
      const deflate = this.deflateStream();
      if (this.deflateSyncable && idle(deflate)) {
        if (this.outBatch) this.deflateNow(deflate, frame);
        else queueMicrotask(this.deflateDeferred);
        return;
      }
    }
    this.limiter.add(this.deflateJob);
  }

  /** The compressor, made on first use. */
  private deflateStream(): zlib.DeflateRaw {
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
      this.deflateSyncable = syncCapable(deflate);
    }
    return deflate;
  }

  /**
   * Compresses `frame` synchronously: one zlib call with a sync flush, which
   * ends the output exactly as the async path's write + flush does.
   */
  private deflateNow(deflate: zlib.DeflateRaw, frame: ExtensionFrame): void {
    this.outChunks = [];
    this.outBytes = 0;
    try {
      const payload = frame.payload;
      // An empty frame: zlib answers a sync flush with no input right after
      // another one with nothing (Z_BUF_ERROR), and the peer, which appends
      // 00 00 ff ff, needs the empty stored block that ends a flush. A
      // Z_NO_FLUSH call first makes zlib emit it (what the async path's
      // write of the empty payload does).
      if (payload.length === 0) zlibSync(deflate, payload, zlib.constants.Z_NO_FLUSH, this.deflatedSync, Infinity);
      // Compression output is at most a little more than its input: no budget.
      zlibSync(deflate, payload, zlib.constants.Z_SYNC_FLUSH, this.deflatedSync, Infinity);
    } catch (error) {
      this.deflateError(error as Error); // 1011, as on the async path
      return;
    }
    this.finishDeflate();
  }

  private startDeflate(done: () => void): void {
    if (this.disposed || this.outFrame === null) {
      done();
      return;
    }
    this.outDone = done;
    const deflate = this.deflateStream();
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

// ---- synchronous zlib ------------------------------------------------------
//
// Node has no public API to run a zlib *stream* synchronously: `zlib.*Sync`
// make a fresh stream per call (no context takeover), and the stream method
// they use, `_processChunk(chunk, flag)` without a callback
// (`processChunkSync` in Node's lib/zlib.js), closes the stream when it
// returns (and adds an 'error' listener per call). So this drives the
// stream's native handle the way `processChunkSync` and `processCallback`
// do, one `writeSync` per output chunk, but leaves the stream open and keeps
// its output buffer (`_outBuffer`/`_outOffset`) in step, so that the next
// operation, sync or async, carries on from the same state. These are
// internals (underscore fields): `syncCapable` checks they are all there,
// once per stream, and without them every operation takes the async path.
// `_maxOutputLength` (ERR_BUFFER_TOO_LARGE, which also closes the stream) is
// only checked by `processChunkSync`, not here, as on the async stream path:
// the caller's `onChunk` (the maxPayload check) and the budget bound the
// output instead. Calling `writeSync` while an async write is in progress
// would abort the process (a native assertion): the callers only come here
// when no job of theirs holds the stream and its write queue is empty.

/** The internals of a Node zlib stream that the synchronous path uses (node lib/zlib.js). */
interface ZlibInternals {
  _handle: {
    writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  } | null;
  /** After a write: [avail_out, avail_in]. */
  _writeState: Uint32Array;
  _outBuffer: Buffer;
  _outOffset: number;
  _chunkSize: number;
}

let syncEnabled = true;

/**
 * @internal For tests: `false` makes streams created from now on take the
 * asynchronous path only (as on a Node without the internals).
 */
export function setSyncZlib(enabled: boolean): void {
  syncEnabled = enabled;
}

/** Whether `stream` has what {@link zlibSync} needs. */
function syncCapable(stream: zlib.InflateRaw | zlib.DeflateRaw): boolean {
  const s = stream as unknown as Partial<ZlibInternals>;
  return (
    syncEnabled &&
    s._handle != null &&
    typeof s._handle.writeSync === 'function' &&
    s._writeState instanceof Uint32Array &&
    s._writeState.length >= 2 &&
    Buffer.isBuffer(s._outBuffer) &&
    typeof s._outOffset === 'number' &&
    typeof s._chunkSize === 'number' &&
    s._chunkSize > 0
  );
}

/** No write queued or running on `stream` (belt and braces: see above). */
function idle(stream: zlib.InflateRaw | zlib.DeflateRaw): boolean {
  const state = (stream as unknown as { _writableState?: { writing?: boolean } })._writableState;
  return stream.writableLength === 0 && state?.writing !== true;
}

/** {@link zlibSync} consumed all its input. */
const SYNC_DONE = 0;
/** `onChunk` asked to stop; the stream must not be used again. */
const SYNC_STOPPED = 1;
/** zlib reached the end of the DEFLATE stream (a BFINAL block) and ignores the rest of the input. */
const SYNC_ENDED = 2;
/** The output budget ran out with work left: `syncRest` is the input still to give zlib (maybe empty). */
const SYNC_PAUSED = 3;
let syncRest: Buffer = EMPTY;

/**
 * Runs `input` through `stream` synchronously with `flush` (see above). Each
 * output chunk goes to `onChunk`, which returns false to stop. Pauses once
 * `budget` bytes came out and zlib has more to do. Throws zlib's error (Node
 * has then destroyed the stream; its 'error' event follows on the next tick).
 * The caller makes sure no asynchronous write is in progress on `stream`.
 */
function zlibSync(
  stream: zlib.InflateRaw | zlib.DeflateRaw,
  input: Buffer,
  flush: number,
  onChunk: (chunk: Buffer) => boolean,
  budget: number,
): number {
  const s = stream as unknown as ZlibInternals;
  const handle = s._handle;
  if (handle === null) throw new Error('zlib stream is closed');
  const state = s._writeState;
  const chunkSize = s._chunkSize;
  let inOff = 0;
  let inLen = input.length;
  let produced = 0;
  for (;;) {
    const outLen = chunkSize - s._outOffset;
    handle.writeSync(flush, input, inOff, inLen, s._outBuffer, s._outOffset, outLen);
    // On a zlib error Node destroys the stream from inside writeSync.
    if (s._handle !== handle || stream.destroyed) throw stream.errored ?? new Error('zlib stream closed');
    const outLeft = state[0];
    const inLeft = state[1];
    const have = outLen - outLeft;
    if (have > 0) {
      const out = s._outBuffer.subarray(s._outOffset, s._outOffset + have);
      s._outOffset += have;
      produced += have;
      if (!onChunk(out)) return SYNC_STOPPED;
    }
    // As Node does: a full output buffer is replaced, never written over.
    if (outLeft === 0 || s._outOffset >= chunkSize) {
      s._outOffset = 0;
      s._outBuffer = Buffer.allocUnsafe(chunkSize);
    }
    inOff += inLen - inLeft;
    inLen = inLeft;
    // Output space left over: zlib is done with this input, or (input left)
    // it reached the end of the stream.
    if (outLeft !== 0) return inLeft > 0 ? SYNC_ENDED : SYNC_DONE;
    if (produced >= budget) {
      syncRest = inLen === 0 ? EMPTY : input.subarray(inOff, inOff + inLen);
      return SYNC_PAUSED;
    }
  }
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
