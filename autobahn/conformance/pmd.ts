/**
 * The suite's own permessage-deflate (RFC 7692), independent of `lib/`:
 * header parsing/formatting, negotiation bookkeeping and a message codec on
 * `node:zlib` (raw deflate, `Z_SYNC_FLUSH`, the `00 00 ff ff` tail removed on
 * the wire (§7.2.1) and appended again before inflating (§7.2.2)).
 *
 * @packageDocumentation
 */

import * as zlib from 'node:zlib';

/** §7.2.1: the tail a sync flush leaves at the end of a compressed message. */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One element of a `Sec-WebSocket-Extensions` header: token plus parameters (`true` = no value). */
export interface ExtensionElement {
  name: string;
  params: Record<string, string | true>;
}

/** Parse a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1). Returns null if it is malformed. */
export function parseExtensions(value: string | undefined): ExtensionElement[] | null {
  if (value === undefined || value.trim() === '') return [];
  const out: ExtensionElement[] = [];
  const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  for (const el of value.split(',')) {
    const parts = el.split(';').map((s) => s.trim());
    const name = parts.shift() ?? '';
    if (!token.test(name)) return null;
    const params: Record<string, string | true> = {};
    for (const p of parts) {
      if (p === '') return null;
      const eq = p.indexOf('=');
      const k = (eq < 0 ? p : p.slice(0, eq)).trim();
      if (!token.test(k)) return null;
      if (eq < 0) params[k] = true;
      else {
        let v = p.slice(eq + 1).trim();
        if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
        if (!token.test(v)) return null;
        params[k] = v;
      }
    }
    out.push({ name, params });
  }
  return out;
}

/** Format one extension element. */
export function formatExtension(e: ExtensionElement): string {
  return [e.name, ...Object.entries(e.params).map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; ');
}

/** Negotiated permessage-deflate parameters (RFC 7692 §7.1), as they appear in the server's response. */
export interface PmdParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 8..15 (15 when absent). */
  serverMaxWindowBits: number;
  /** 8..15 (15 when absent). */
  clientMaxWindowBits: number;
}

const PMD_PARAMS = ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'];

/**
 * Validate a server's permessage-deflate response element against §7.1 and
 * return the parameters, or a string saying what is wrong.
 * @param offered the client's offer elements (to check §7.1.2.2: client_max_window_bits only if offered)
 */
export function parsePmdResponse(e: ExtensionElement, offered: ExtensionElement[]): PmdParams | string {
  const seen = new Set<string>();
  for (const k of Object.keys(e.params)) {
    if (!PMD_PARAMS.includes(k)) return `unknown permessage-deflate parameter ${k}`;
    if (seen.has(k)) return `duplicate parameter ${k}`;
    seen.add(k);
  }
  const bits = (k: string): number | string => {
    const v = e.params[k];
    if (v === undefined) return 15;
    if (v === true || !/^[0-9]+$/.test(v) || Number(v) < 8 || Number(v) > 15) return `invalid ${k}=${String(v)}`;
    return Number(v);
  };
  for (const k of ['server_no_context_takeover', 'client_no_context_takeover'])
    if (e.params[k] !== undefined && e.params[k] !== true) return `${k} must not have a value`;
  const sb = bits('server_max_window_bits');
  const cb = bits('client_max_window_bits');
  if (typeof sb === 'string') return sb;
  if (typeof cb === 'string') return cb;
  if (e.params.client_max_window_bits !== undefined && !offered.some((o) => o.params.client_max_window_bits !== undefined))
    return 'client_max_window_bits in the response, but not offered (RFC 7692 7.1.2.2)';
  return {
    serverNoContextTakeover: e.params.server_no_context_takeover === true,
    clientNoContextTakeover: e.params.client_no_context_takeover === true,
    serverMaxWindowBits: sb,
    clientMaxWindowBits: cb,
  };
}

/** Raw-deflate compressor for one direction of one connection. */
export class MessageDeflater {
  private z: zlib.DeflateRaw | null = null;
  constructor(
    private readonly windowBits: number,
    private readonly noContextTakeover: boolean,
  ) {}

  /** Compress one message (§7.2.1): sync flush, tail removed. */
  compress(data: Buffer): Promise<Buffer> {
    const z = (this.z ??= zlib.createDeflateRaw({ windowBits: this.windowBits, memLevel: 8 }));
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): void => void chunks.push(c);
      const onError = (e: Error): void => {
        z.off('data', onData);
        reject(e);
      };
      z.on('data', onData);
      z.once('error', onError);
      z.write(data);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        z.off('error', onError);
        let out = Buffer.concat(chunks);
        if (out.length >= 4 && out.subarray(out.length - 4).equals(DEFLATE_TAIL)) out = out.subarray(0, out.length - 4);
        if (this.noContextTakeover) this.reset();
        resolve(out);
      });
    });
  }

  /** Drop the compression context. */
  reset(): void {
    this.z?.close();
    this.z = null;
  }
}

/** Raw-deflate decompressor for one direction of one connection. */
export class MessageInflater {
  private z: zlib.InflateRaw | null = null;
  constructor(
    private readonly windowBits: number,
    private readonly noContextTakeover: boolean,
    private readonly maxSize = 64 * 1024 * 1024,
  ) {}

  /** Decompress one message (§7.2.2: tail appended). Rejects on corrupt data. */
  decompress(data: Buffer): Promise<Buffer> {
    // zlib lets a back-reference reach into the output it is still filling, so it
    // only enforces `windowBits` beyond the current output chunk: with chunks of
    // 2^windowBits octets, a distance over twice the agreed window is always
    // refused ("invalid distance too far back"). Only needed below 15 (32 KiB is
    // the largest distance DEFLATE has).
    const chunkSize = this.windowBits < 15 ? Math.max(64, 1 << this.windowBits) : undefined;
    const z = (this.z ??= zlib.createInflateRaw({ windowBits: this.windowBits, chunkSize }));
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      const onData = (c: Buffer): void => {
        size += c.length;
        if (size > this.maxSize && !failed) {
          failed = true;
          cleanup();
          this.reset();
          reject(new Error(`inflated message larger than ${this.maxSize} bytes`));
          return;
        }
        chunks.push(c);
      };
      const onError = (e: Error): void => {
        if (failed) return;
        failed = true;
        cleanup();
        this.z = null;
        reject(e);
      };
      const cleanup = (): void => {
        z.off('data', onData);
        z.off('error', onError);
      };
      z.on('data', onData);
      z.on('error', onError);
      z.write(Buffer.concat([data, DEFLATE_TAIL]));
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (failed) return;
        cleanup();
        if (this.noContextTakeover) this.reset();
        resolve(Buffer.concat(chunks));
      });
    });
  }

  /** Drop the decompression context. */
  reset(): void {
    this.z?.close();
    this.z = null;
  }
}

/**
 * One side's codec: compresses what this side sends, inflates what the peer sends.
 * @param role which side *we* are
 */
export function createCodec(params: PmdParams, role: 'client' | 'server'): { deflater: MessageDeflater; inflater: MessageInflater } {
  const mine = role === 'server' ? { bits: params.serverMaxWindowBits, nct: params.serverNoContextTakeover } : { bits: params.clientMaxWindowBits, nct: params.clientNoContextTakeover };
  const theirs = role === 'server' ? { bits: params.clientMaxWindowBits, nct: params.clientNoContextTakeover } : { bits: params.serverMaxWindowBits, nct: params.serverNoContextTakeover };
  // The peer may use *less* than the negotiated window, never more: inflate with the negotiated size.
  // A peer that promised no context takeover may still be inflated with a kept context (harmless),
  // but we reset ours when *it* promised so, to catch a peer that relies on context it said it would drop.
  return { deflater: new MessageDeflater(mine.bits, mine.nct), inflater: new MessageInflater(theirs.bits, theirs.nct) };
}

// --- Autobahn 13.x offers and accept policies (autobahn-python `compress_deflate.py`) ------------------

/**
 * Autobahn's `PerMessageDeflateOffer(requestNoContextTakeover, requestMaxWindowBits)`
 * with its defaults `acceptNoContextTakeover = True`, `acceptMaxWindowBits = True`:
 * `permessage-deflate; client_no_context_takeover; client_max_window_bits`
 * plus `server_no_context_takeover` / `server_max_window_bits=N` when requested.
 */
export function autobahnOffer(requestNoContextTakeover = false, requestMaxWindowBits = 0): ExtensionElement {
  const params: Record<string, string | true> = { client_no_context_takeover: true, client_max_window_bits: true };
  if (requestNoContextTakeover) params.server_no_context_takeover = true;
  if (requestMaxWindowBits) params.server_max_window_bits = String(requestMaxWindowBits);
  return { name: 'permessage-deflate', params };
}

/** Describe an offer list as Autobahn does: `[(requestNoContextTakeover, requestMaxWindowBits), ...]`. */
export function describeOffers(offers: ExtensionElement[]): string {
  return `[${offers.map((o) => `(${o.params.server_no_context_takeover === true ? 'True' : 'False'}, ${o.params.server_max_window_bits ?? 0})`).join(', ')}]`;
}

/**
 * Server role: check the server's `Sec-WebSocket-Extensions` response against
 * what we offered (RFC 7692 §5, §7.1). Returns the agreed parameters, `null`
 * when the server declined (no permessage-deflate in the response), or a
 * string describing a violation.
 */
export function checkServerResponse(header: string | undefined, offers: ExtensionElement[]): PmdParams | null | string {
  const els = parseExtensions(header);
  if (els === null) return `malformed Sec-WebSocket-Extensions response: ${header}`;
  if (els.length === 0) return null;
  if (els.length > 1 || els[0].name.toLowerCase() !== 'permessage-deflate')
    return `the response must accept exactly one of the offered extensions (got "${header}")`;
  const p = parsePmdResponse(els[0], offers);
  if (typeof p === 'string') return p;
  // The response must answer one of the offers (§7.1.1.1, §7.1.2.1, §7.1.2.2).
  const why: string[] = [];
  for (const o of offers) {
    const r = responseMatches(o, els[0], p);
    if (r === null) return p;
    why.push(r);
  }
  return `the response "${header}" matches none of the offers: ${why.join('; ')}`;
}

function responseMatches(offer: ExtensionElement, resp: ExtensionElement, p: PmdParams): string | null {
  if (offer.params.server_no_context_takeover === true && !p.serverNoContextTakeover)
    return 'offer has server_no_context_takeover, the response must include it (RFC 7692 7.1.1.1)';
  const sb = offer.params.server_max_window_bits;
  if (typeof sb === 'string') {
    if (resp.params.server_max_window_bits === undefined) return `offer has server_max_window_bits=${sb}, the response must include it (RFC 7692 7.1.2.1)`;
    if (p.serverMaxWindowBits > Number(sb)) return `server_max_window_bits=${p.serverMaxWindowBits} is larger than the offered ${sb} (RFC 7692 7.1.2.1)`;
  }
  if (resp.params.client_max_window_bits !== undefined && offer.params.client_max_window_bits === undefined)
    return 'client_max_window_bits in the response, but not in this offer (RFC 7692 7.1.2.2)';
  const cb = offer.params.client_max_window_bits;
  if (typeof cb === 'string' && p.clientMaxWindowBits > Number(cb)) return `client_max_window_bits=${p.clientMaxWindowBits} is larger than the offered ${cb}`;
  return null;
}

/**
 * Parse and validate one client offer element (RFC 7692 §7.1). Returns a
 * reason string when the offer is invalid (a server declines such an offer).
 */
export function checkOffer(e: ExtensionElement): string | null {
  if (e.name.toLowerCase() !== 'permessage-deflate') return `not permessage-deflate: ${e.name}`;
  for (const [k, v] of Object.entries(e.params)) {
    if (!PMD_PARAMS.includes(k)) return `unknown parameter ${k}`;
    if (k.endsWith('_no_context_takeover') && v !== true) return `${k} must not have a value`;
    if (k === 'server_max_window_bits' && (v === true || !/^(?:[89]|1[0-5])$/.test(v))) return `invalid server_max_window_bits=${String(v)}`;
    if (k === 'client_max_window_bits' && v !== true && !/^(?:[89]|1[0-5])$/.test(v)) return `invalid client_max_window_bits=${v}`;
  }
  return null;
}

/** An accept policy of the fuzzing server (client role): the response element for the client's offers, or null to decline. */
export type AcceptPolicy = (offers: ExtensionElement[]) => ExtensionElement | null;

/**
 * Autobahn's `PerMessageDeflateOfferAccept(offer, requestNoContextTakeover,
 * requestMaxWindowBits)` applied to the first acceptable offer: honour what
 * the client asked of the server (`server_no_context_takeover`,
 * `server_max_window_bits`) and ask the client for no context takeover /
 * a window of `requestMaxWindowBits`.
 *
 * Relaxed to RFC 7692: Autobahn only asks for `client_no_context_takeover`
 * when the client offered it; §7.1.1.2 lets a server send it anyway, so we
 * do (the `ws` client, for one, does not offer it by default).
 * `client_max_window_bits` is only sent when the client offered it
 * (§7.1.2.2: MUST NOT otherwise); an offer without it is skipped.
 */
export function autobahnAccept(requestNoContextTakeover: boolean, requestMaxWindowBits: number): AcceptPolicy {
  return (offers) => {
    for (const o of offers) {
      if (o.name.toLowerCase() !== 'permessage-deflate' || checkOffer(o) !== null) continue;
      if (requestMaxWindowBits && o.params.client_max_window_bits === undefined) continue;
      const params: Record<string, string | true> = {};
      if (o.params.server_no_context_takeover === true) params.server_no_context_takeover = true;
      if (typeof o.params.server_max_window_bits === 'string') params.server_max_window_bits = o.params.server_max_window_bits;
      if (requestNoContextTakeover) params.client_no_context_takeover = true;
      if (requestMaxWindowBits) {
        const cb = o.params.client_max_window_bits;
        params.client_max_window_bits = String(typeof cb === 'string' ? Math.min(Number(cb), requestMaxWindowBits) : requestMaxWindowBits);
      }
      return { name: 'permessage-deflate', params };
    }
    return null;
  };
}

/** Autobahn `accept7`: try (True, 8), then (True, 0), then (False, 0). */
export function firstAccept(...policies: AcceptPolicy[]): AcceptPolicy {
  return (offers) => {
    for (const p of policies) {
      const r = p(offers);
      if (r) return r;
    }
    return null;
  };
}

/** The negotiated permessage-deflate state of one connection, from the suite's side. */
export interface PmdState {
  params: PmdParams;
  /** The `Sec-WebSocket-Extensions` value that was agreed. */
  agreed: string;
  /** Compresses what the suite sends. */
  deflater: MessageDeflater;
  /** Inflates what the peer sends (agreed window; reset per message when the peer promised no context takeover). */
  inflater: MessageInflater;
  /** Compressed messages received from the peer. */
  compressedIn: number;
  /** Uncompressed messages received from the peer. */
  plainIn: number;
}

/** Create the suite's state for agreed parameters. */
export function createPmdState(params: PmdParams, role: 'client' | 'server', agreed: string): PmdState {
  const { deflater, inflater } = createCodec(params, role);
  return { params, agreed, deflater, inflater, compressedIn: 0, plainIn: 0 };
}

/** Release the zlib streams of a state. */
export function disposePmdState(s: PmdState | null): void {
  s?.deflater.reset();
  s?.inflater.reset();
}
