/**
 * Parser and writer microbenchmarks: ws-rx's FrameParser and FrameWriter
 * against ws's Receiver and Sender.frame, on the same input, in one process.
 *
 *   node dist/bench/micro.js [--quick] [--json]
 *   NODE_PATH=/tmp/ws-bench/peers/node_modules node dist/bench/micro.js   # ws with bufferutil too
 *
 * Parser: masked client frames (server role), all fed to a fresh parser per
 * pass: 10,000 text frames of 64 B in one buffer; 128 text frames of 64 KiB
 * in one buffer; the same 64 KiB frames in 64 KiB chunks (frames straddle
 * chunks, as from a socket). Both parsers unmask in place and check UTF-8, so
 * every pass gets a fresh copy of the input, made before the clock starts.
 * ws's Receiver is driven as ws drives it (`receiver.write(chunk)`) with
 * `isServer: true`; ws-rx's FrameParser with a no-op handler.
 *
 * Writer: server frames (unmasked) of 64 B and 64 KiB from a Buffer, and 64 B
 * from a string: FrameWriter.frame/textFrame + take() per frame vs
 * Sender.frame(data, { fin, opcode, mask: false }) per frame (a string goes
 * through Buffer.from first, as Sender.frame does without a known length).
 *
 * Send: a message handed to each library's send path until it reaches the
 * socket, both writing to the same counting socket (`cork`, `write`,
 * `uncork`; it keeps nothing). ws-rx: WebSocketProtocol.sendText/sendBinary,
 * then takeOutput() written as StreamTransport.flush writes it (one write,
 * or a corked burst). ws: `new Sender(socket).send(data, options)`, which
 * writes each frame (header and payload) itself. 64 B text one at a time,
 * 16 × 64 B text as one burst (what an echo of one read does), 64 KiB
 * binary. ws hands a text payload to the socket as a string: the counting
 * socket encodes it as a socket would; ws-rx encodes into its slab. The
 * socket's own cost per write call (a real `net.Socket.write` is far more
 * than this one) is left out, which favours the library that writes more
 * often: ws.
 *
 * Decode: a validated text message to its string, 64 KiB of ASCII (JSON-like),
 * 64 KiB of mixed Latin, symbols and CJK, 1 MiB of ASCII: decodeText (what
 * messages$ emits) against Buffer.toString('utf8') (how a ws user gets the
 * string from ws's Buffer).
 *
 * Masking: 4 KiB and 64 KiB XORed in place: applyMask (WebAssembly SIMD from
 * 1 KiB), the 32-bit JS loop it falls back to, and ws's unmask (JS, and the
 * bufferutil addon when it loads).
 *
 * ws is loaded twice when it can be: once with WS_NO_BUFFER_UTIL=1 (pure-JS
 * masking), once as it loads by default (bufferutil if it resolves: it is not in
 * this repo's node_modules; NODE_PATH above lets it load). The table says which.
 *
 * Each case: 2 warm-up samples, then 7 timed samples (3 with --quick) of about
 * 32 MiB of payload each (8 MiB with --quick); the median is reported in MB/s
 * (10^6 bytes of payload) and frames/s. A table goes to stderr; with --json
 * one JSON line goes to stdout.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FrameParser, type ParserHandler } from '../lib/protocol/frame-parser';
import { FrameWriter } from '../lib/protocol/frame-writer';
import { WebSocketProtocol, type ProtocolHandler } from '../lib/protocol/connection';
import { applyMask, applyMaskRotated, simdMasking } from '../lib/protocol/mask';
import { decodeText } from '../lib/protocol/utf8';

const QUICK = process.argv.includes('--quick');
const JSON_OUT = process.argv.includes('--json');
const SAMPLES = QUICK ? 3 : 7;
const WARMUP = 2;
const SAMPLE_BYTES = (QUICK ? 8 : 32) * 1024 * 1024;
const MAX_PAYLOAD = 100 * 1024 * 1024;

interface WsModules {
  label: string;
  bufferutil: boolean;
  Receiver: new (options: object) => NodeJS.WritableStream & { on(e: string, f: (...a: unknown[]) => void): unknown };
  Sender: {
    new (socket: CountingSocket): { send(data: Buffer | string, options: object): void };
    frame(data: Buffer | string, options: object): (Buffer | string)[];
  };
  unmask: (buffer: Buffer, mask: Buffer) => void;
}

/** Loads ws's receiver and sender afresh (they bind buffer-util's mask/unmask at load time). */
function loadWs(noBufferUtil: boolean): WsModules {
  const wsDir = path.dirname(require.resolve('ws/package.json'));
  for (const key of Object.keys(require.cache)) if (key.startsWith(path.join(wsDir, 'lib'))) delete require.cache[key];
  const saved = process.env.WS_NO_BUFFER_UTIL;
  if (noBufferUtil) process.env.WS_NO_BUFFER_UTIL = '1';
  else delete process.env.WS_NO_BUFFER_UTIL;
  try {
    const bufferUtil = require(path.join(wsDir, 'lib', 'buffer-util.js')) as { mask: Function };
    const addon = /bufferUtil\./.test(bufferUtil.mask.toString());
    const version = (require(path.join(wsDir, 'package.json')) as { version: string }).version;
    return {
      label: `ws ${version}${addon ? ' +bufferutil' : noBufferUtil ? ' (JS mask)' : ''}`,
      bufferutil: addon,
      Receiver: require(path.join(wsDir, 'lib', 'receiver.js')),
      Sender: require(path.join(wsDir, 'lib', 'sender.js')),
      unmask: (bufferUtil as unknown as { unmask: (b: Buffer, m: Buffer) => void }).unmask,
    };
  } finally {
    if (saved === undefined) delete process.env.WS_NO_BUFFER_UTIL;
    else process.env.WS_NO_BUFFER_UTIL = saved;
  }
}

// ---- input -----------------------------------------------------------------

/** `count` masked text frames with `size`-byte ASCII payloads, one buffer. */
function maskedTextFrames(count: number, size: number): Buffer {
  const text = Buffer.alloc(size, 'TEST ');
  const header = size < 126 ? 2 : size < 0x10000 ? 4 : 10;
  const frameSize = header + 4 + size;
  const out = Buffer.allocUnsafe(count * frameSize);
  for (let f = 0; f < count; f++) {
    let at = f * frameSize;
    out[at] = 0x81;
    if (size < 126) out[at + 1] = 0x80 | size;
    else if (size < 0x10000) {
      out[at + 1] = 0x80 | 126;
      out.writeUInt16BE(size, at + 2);
    } else {
      out[at + 1] = 0x80 | 127;
      out.writeUInt32BE(0, at + 2);
      out.writeUInt32BE(size, at + 6);
    }
    at += header;
    const key = randomBytes(4);
    key.copy(out, at);
    at += 4;
    for (let i = 0; i < size; i++) out[at + i] = text[i] ^ key[i & 3];
  }
  return out;
}

function split(buf: Buffer, chunk: number): Buffer[] {
  if (chunk <= 0 || chunk >= buf.length) return [buf];
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) out.push(buf.subarray(i, Math.min(i + chunk, buf.length)));
  return out;
}

// ---- timing ----------------------------------------------------------------

interface Result {
  bench: string;
  impl: string;
  mb_per_s: number;
  frames_per_s: number;
  samples: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Times `passes` calls of `run(i)` per sample (after `prepare(i)` for every
 * pass, untimed) and returns the median in MB/s and frames/s.
 */
function measure(
  bench: string,
  impl: string,
  bytesPerPass: number,
  framesPerPass: number,
  prepare: (pass: number) => void,
  run: (pass: number) => void,
): Result {
  const passes = Math.max(1, Math.round(SAMPLE_BYTES / bytesPerPass));
  const mbps: number[] = [];
  for (let s = 0; s < WARMUP + SAMPLES; s++) {
    for (let i = 0; i < passes; i++) prepare(i);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < passes; i++) run(i);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s >= WARMUP) mbps.push((bytesPerPass * passes) / seconds / 1e6);
  }
  const mb = median(mbps);
  const r = {
    bench,
    impl,
    mb_per_s: round(mb),
    frames_per_s: Math.round((mb * 1e6 * framesPerPass) / bytesPerPass),
    samples: mbps.map(round),
  };
  process.stderr.write(`  ${bench.padEnd(34)} ${impl.padEnd(22)} ${r.mb_per_s.toFixed(1).padStart(9)} MB/s\n`);
  return r;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

let sink = 0;

// ---- parser ----------------------------------------------------------------

interface ParserCase {
  name: string;
  count: number;
  size: number;
  chunk: number;
}

function benchParsers(wsVariants: WsModules[]): Result[] {
  const cases: ParserCase[] = [
    { name: 'parse 10,000 x 64 B (one buffer)', count: 10_000, size: 64, chunk: 0 },
    { name: 'parse 128 x 64 KiB (one buffer)', count: 128, size: 65536, chunk: 0 },
    { name: 'parse 128 x 64 KiB (64 KiB chunks)', count: 128, size: 65536, chunk: 65536 },
  ];
  const results: Result[] = [];
  for (const c of cases) {
    const input = maskedTextFrames(c.count, c.size);
    const payloadBytes = c.count * c.size;
    const passes = Math.max(1, Math.round(SAMPLE_BYTES / payloadBytes));
    const copies: Buffer[][] = new Array(passes);
    const prepare = (i: number): void => {
      const buf = Buffer.allocUnsafe(input.length);
      input.copy(buf);
      copies[i] = split(buf, c.chunk);
    };

    let messages = 0;
    const handler: ParserHandler = {
      onMessage(payload) {
        messages++;
        sink += payload.length;
      },
      onControl() {},
      onFrame() {},
      onParseError(error) {
        throw error;
      },
    };
    const rx = measure(c.name, 'ws-rx FrameParser', payloadBytes, c.count, prepare, (i) => {
      const parser = new FrameParser(handler, { role: 'server', maxPayload: MAX_PAYLOAD });
      for (const chunk of copies[i]) parser.receive(chunk);
    });
    check(messages, c.count, rx);
    results.push(rx);

    for (const ws of wsVariants) {
      messages = 0;
      const onMessage = (data: unknown): void => {
        messages++;
        sink += (data as Buffer).length;
      };
      const onError = (error: unknown): void => {
        throw error;
      };
      const r = measure(c.name, `${ws.label} Receiver`, payloadBytes, c.count, prepare, (i) => {
        const receiver = new ws.Receiver({ isServer: true, maxPayload: MAX_PAYLOAD });
        receiver.on('message', onMessage);
        receiver.on('error', onError);
        for (const chunk of copies[i]) receiver.write(chunk);
      });
      check(messages, c.count, r);
      results.push(r);
    }
  }
  return results;
}

function check(messages: number, perPass: number, r: Result): void {
  // Every pass must have produced every message (else the parser dropped or deferred some).
  if (messages === 0 || messages % perPass !== 0) {
    throw new Error(`${r.impl} on ${r.bench}: ${messages} messages, not a multiple of ${perPass}`);
  }
}

// ---- writer ----------------------------------------------------------------

function benchWriters(wsVariants: WsModules[]): Result[] {
  const results: Result[] = [];
  const cases = [
    { name: 'write 64 B binary (Buffer)', size: 64, text: false },
    { name: 'write 64 B text (string)', size: 64, text: true },
    { name: 'write 64 KiB binary (Buffer)', size: 65536, text: false },
  ];
  for (const c of cases) {
    const payload = Buffer.alloc(c.size, 'TEST ');
    const text = payload.toString();
    const frames = Math.max(1, Math.round((1024 * 1024) / c.size)); // frames per pass: 1 MiB of payload
    const bytes = frames * c.size;
    const writer = new FrameWriter(false);
    const noop = (): void => {};
    results.push(
      measure(c.name, 'ws-rx FrameWriter', bytes, frames, noop, () => {
        for (let f = 0; f < frames; f++) {
          if (c.text) writer.textFrame(0x81, text);
          else writer.frame(0x82, payload);
          const out = writer.take()!;
          sink += out.length;
        }
      }),
    );
    // The variants differ in masking only, which server frames do not use: one is enough.
    const ws = wsVariants[0];
    const options = { fin: true, rsv1: false, opcode: c.text ? 0x01 : 0x02, mask: false, readOnly: false };
    results.push(
      measure(c.name, `${ws.label} Sender.frame`, bytes, frames, noop, () => {
        for (let f = 0; f < frames; f++) {
          const out = ws.Sender.frame(c.text ? text : payload, options);
          sink += out.length;
        }
      }),
    );
  }
  return results;
}

// ---- send: message to socket ----------------------------------------------

/**
 * What both send paths write to: counts bytes and calls, keeps nothing. A
 * string is UTF-8 encoded into a scratch buffer, as a socket encodes it
 * (node's writeUtf8String), so both libraries pay one encoding per text.
 */
class CountingSocket {
  bytes = 0;
  writes = 0;
  private readonly scratch = Buffer.allocUnsafe(256 * 1024);
  cork(): void {}
  uncork(): void {}
  write(chunk: Buffer | string, cb?: () => void): boolean {
    this.bytes += typeof chunk === 'string' ? this.scratch.write(chunk) : chunk.length;
    this.writes++;
    cb?.();
    return true;
  }
}

const IDLE_HANDLER: ProtocolHandler = {
  onMessage() {},
  onFrame() {},
  onPing() {},
  onPong() {},
  onCloseFrame() {},
  onFail() {},
  onOutput() {},
  onCloseTransport() {},
};

function benchSends(wsVariants: WsModules[]): Result[] {
  const results: Result[] = [];
  const cases = [
    { name: 'send 64 B text, one at a time', size: 64, text: true, burst: 1 },
    { name: 'send 64 B text, bursts of 16', size: 64, text: true, burst: 16 },
    { name: 'send 64 KiB binary', size: 65536, text: false, burst: 1 },
  ];
  for (const c of cases) {
    const payload = Buffer.alloc(c.size, 'TEST ');
    const text = payload.toString();
    const frames = Math.max(c.burst, Math.round((1024 * 1024) / c.size / c.burst) * c.burst);
    const bytes = frames * c.size;
    const noop = (): void => {};
    const rxSocket = new CountingSocket();
    const protocol = new WebSocketProtocol(IDLE_HANDLER, { role: 'server', maxPayload: MAX_PAYLOAD });
    results.push(
      measure(c.name, 'ws-rx WebSocketProtocol', bytes, frames, noop, () => {
        for (let f = 0; f < frames; f += c.burst) {
          for (let k = 0; k < c.burst; k++) {
            if (c.text) protocol.sendText(text);
            else protocol.sendBinary(payload);
          }
          const out = protocol.takeOutput()!;
          if (out.length === 1) rxSocket.write(out[0]);
          else {
            rxSocket.cork();
            for (let i = 0; i < out.length; i++) rxSocket.write(out[i]);
            rxSocket.uncork();
          }
        }
      }),
    );
    const ws = wsVariants[0];
    const wsSocket = new CountingSocket();
    const sender = new ws.Sender(wsSocket);
    const options = { binary: !c.text, fin: true, mask: false, compress: false };
    results.push(
      measure(c.name, `${ws.label} Sender.send`, bytes, frames, noop, () => {
        for (let f = 0; f < frames; f++) sender.send(c.text ? text : payload, options);
      }),
    );
    if (rxSocket.bytes === 0 || wsSocket.bytes === 0) throw new Error(`${c.name}: nothing reached the socket`);
    sink += rxSocket.writes + wsSocket.writes;
  }
  return results;
}

// ---- text decoding ---------------------------------------------------------

/**
 * A received text message turned into its string: ws-rx's decodeText (what
 * messages$ emits) against `buf.toString('utf8')`, which is how a ws user
 * gets the string from ws's Buffer. Both on the same validated bytes.
 */
function benchDecode(): Result[] {
  const results: Result[] = [];
  const mixed = (n: number): Buffer => {
    const b = Buffer.from('Grüße, ✓ 日本語 and some ASCII; '.repeat(Math.ceil(n / 30)));
    let end = n;
    while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // cut on a code point boundary
    return b.subarray(0, end);
  };
  const cases = [
    { name: 'decode 64 KiB ASCII text', buf: Buffer.alloc(65536, '{"k":"TEST", "n": 12345} ') },
    { name: 'decode 64 KiB mixed text', buf: mixed(65536) },
    { name: 'decode 1 MiB ASCII text', buf: Buffer.alloc(1 << 20, '{"k":"TEST", "n": 12345} ') },
  ];
  const noop = (): void => {};
  for (const c of cases) {
    const buf = c.buf;
    if (decodeText(buf) !== buf.toString('utf8')) throw new Error(`decodeText differs on ${c.name}`);
    results.push(measure(c.name, 'ws-rx decodeText', buf.length, 1, noop, () => (sink += decodeText(buf).length)));
    results.push(measure(c.name, "Buffer toString('utf8')", buf.length, 1, noop, () => (sink += buf.toString('utf8').length)));
  }
  return results;
}

// ---- masking ---------------------------------------------------------------

function benchMask(wsVariants: WsModules[]): Result[] {
  const results: Result[] = [];
  for (const size of [4096, 65536]) {
    const name = `unmask ${size / 1024} KiB in place`;
    const buf = Buffer.alloc(size, 'TEST ');
    const key = 0x37fa213d;
    const keyBytes = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
    const frames = Math.max(1, Math.round((1024 * 1024) / size));
    const bytes = frames * size;
    const noop = (): void => {};
    const loop = (fn: () => void) => () => {
      for (let f = 0; f < frames; f++) fn();
    };
    results.push(
      measure(name, `ws-rx applyMask${simdMasking ? ' (WebAssembly SIMD)' : ''}`, bytes, frames, noop,
        loop(() => applyMask(buf, 0, size, key))),
    );
    results.push(measure(name, 'JS 32-bit loop (ws-rx without SIMD)', bytes, frames, noop,
      loop(() => applyMaskRotated(buf, 0, size, key))));
    for (const ws of wsVariants) {
      results.push(measure(name, `${ws.label} unmask`, bytes, frames, noop, loop(() => ws.unmask(buf, keyBytes))));
    }
  }
  return results;
}

// ---- main ------------------------------------------------------------------

function table(results: Result[]): string {
  const lines = ['| benchmark | implementation | MB/s | frames/s | vs ws-rx |', '|---|---|---:|---:|---:|'];
  let base = 0;
  for (const r of results) {
    if (r.impl.startsWith('ws-rx')) base = r.mb_per_s;
    const ratio = r.impl.startsWith('ws-rx') ? '' : `ws-rx ${(base / r.mb_per_s).toFixed(2)}x`;
    lines.push(`| ${r.bench} | ${r.impl} | ${r.mb_per_s.toFixed(1)} | ${r.frames_per_s.toLocaleString('en-US')} | ${ratio} |`);
  }
  return lines.join('\n');
}

function main(): void {
  const variants = [loadWs(true)];
  const withAddon = loadWs(false);
  if (withAddon.bufferutil) variants.push(withAddon);
  process.stderr.write(
    `micro: node ${process.version}, ${variants.map((v) => v.label).join(' and ')}` +
      `${withAddon.bufferutil ? '' : ' (bufferutil not found: pure-JS masking)'}, median of ${SAMPLES}\n`,
  );
  const results = [...benchParsers(variants), ...benchWriters(variants), ...benchSends(variants), ...benchDecode(), ...benchMask(variants)];
  process.stderr.write(`\n${table(results)}\n`);
  if (sink === -1) console.log(sink); // keep the work observable
  if (JSON_OUT) {
    console.log(
      JSON.stringify({
        node: process.version,
        ws: variants.map((v) => v.label),
        bufferutil: withAddon.bufferutil,
        samples: SAMPLES,
        results,
      }),
    );
  }
}

main();
