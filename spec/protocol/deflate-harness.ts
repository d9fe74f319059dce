/**
 * Shared by the permessage-deflate core specs (deflate.spec.ts,
 * deflate-sync.spec.ts): a ProtocolHandler that records what the core reports
 * and lets a test await it (no sleeps), a core with permessage-deflate agreed
 * as a given role, and a reader of the frames a core writes.
 */
import { expect } from 'chai';
import { ProtocolHandler, WebSocketProtocol } from '../../lib/protocol/connection';
import { PerMessageDeflate, perMessageDeflate, PerMessageDeflateOptions } from '../../lib/protocol/deflate';
import type { WebSocketError } from '../../lib/protocol/errors';
import type { Frame } from '../../lib/protocol/frame-parser';
import { parseExtensions, type ExtensionOffer } from '../../lib/protocol/handshake';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export type Event = ['message', string, boolean] | ['ping', string] | ['fail', number, string] | ['close', number];

/** Records messages (text as is, binary as hex), pings, received close frames and failures. */
export class Recorder implements ProtocolHandler {
  events: Event[] = [];
  /** What the core reported undelivered, unless a test replaces `onUndelivered`. */
  undelivered: (string | Buffer)[] = [];
  closeTransport = 0;
  private waiters: { n: number; resolve: () => void }[] = [];
  onMessage(data: Buffer, text: boolean): void {
    this.push(['message', text ? data.toString() : data.toString('hex'), text]);
  }
  onFrame(_f: Frame): void {}
  onPing(p: Buffer): void {
    this.push(['ping', p.toString()]);
  }
  onPong(): void {}
  onCloseFrame(code: number): void {
    this.push(['close', code]);
  }
  onFail(e: WebSocketError): void {
    this.push(['fail', e.closeCode, e.code]);
  }
  onOutput(): void {}
  onCloseTransport(): void {
    this.closeTransport++;
  }
  onUndelivered(data: string | Buffer): void {
    this.undelivered.push(data);
  }
  private push(e: Event): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (this.events.length < w.n) return true;
      w.resolve();
      return false;
    });
  }
  /** Resolves once `n` events were recorded (fails the test after 10 s). */
  until(n: number): Promise<Event[]> {
    if (this.events.length >= n) return Promise.resolve(this.events);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`only ${this.events.length} of ${n} events: ${JSON.stringify(this.events).slice(0, 500)}`)),
        10_000,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve(this.events);
        },
      });
    });
  }
}

/** The parameters of a `permessage-deflate; ...` response element (`''`: none). */
export function parseParams(s: string): Record<string, string | true> {
  if (s === '') return {};
  const parsed = parseExtensions('permessage-deflate; ' + s) as ExtensionOffer[];
  return parsed[0].params;
}

/** A core with permessage-deflate agreed with `response` params, as `role`. */
export function deflateCore(
  role: 'client' | 'server',
  options: PerMessageDeflateOptions = {},
  response = '',
  maxPayload = 64 * 1024 * 1024,
): { core: WebSocketProtocol; rec: Recorder; ext: PerMessageDeflate } {
  const ext = perMessageDeflate({ threshold: 0, ...options })({ role, maxPayload }) as PerMessageDeflate;
  const params = parseParams(response);
  if (role === 'client') expect(ext.accept(params)).to.equal(null);
  else expect(ext.acceptOffer([params])).to.not.equal(null);
  const rec = new Recorder();
  const core = new WebSocketProtocol(rec, { role, maxPayload, extensions: [ext] });
  return { core, rec, ext };
}

export interface WireFrame {
  b0: number;
  payload: Buffer;
  bytes: Buffer;
}

/** Splits written bytes into frames (unmasking client frames). */
export function parseFrames(buf: Buffer): { frames: WireFrame[]; rest: Buffer } {
  const frames: WireFrame[] = [];
  for (;;) {
    if (buf.length < 2) break;
    const len7 = buf[1] & 0x7f;
    const masked = (buf[1] & 0x80) !== 0;
    let at = 2;
    let len = len7;
    if (len7 === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len7 === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    const total = at + (masked ? 4 : 0) + len;
    if (buf.length < total) break;
    const payload = Buffer.from(buf.subarray(total - len, total));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[at + (i & 3)];
    frames.push({ b0: buf[0], payload, bytes: buf.subarray(0, total) });
    buf = buf.subarray(total);
  }
  return { frames, rest: buf };
}

/** Collects written frames until `done(frames)`; gives up after 10 s. */
export async function framesUntil(core: WebSocketProtocol, done: (frames: WireFrame[]) => boolean): Promise<WireFrame[]> {
  const frames: WireFrame[] = [];
  let buf: Buffer = Buffer.alloc(0);
  const deadline = Date.now() + 10_000;
  while (!done(frames) && Date.now() < deadline) {
    const out = core.takeOutput();
    if (out !== null) buf = Buffer.concat([buf, ...out]);
    const parsed = parseFrames(buf);
    frames.push(...parsed.frames);
    buf = parsed.rest;
    if (!done(frames)) await new Promise<void>((r) => setImmediate(r));
  }
  return frames;
}
