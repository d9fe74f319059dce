/**
 * Masking (RFC 6455 §5.3): payload byte i is XORed with key byte i mod 4.
 *
 * Keys are 32-bit numbers read big-endian from the wire, so the parser keeps
 * no per-frame Buffer. Long runs are XORed 32 bits at a time over an aligned
 * `Uint32Array` view (ws's `bufferutil` does the same in C); short ones byte by
 * byte. An all-zero key is skipped.
 *
 * Runs of {@link SIMD_THRESHOLD} bytes or more go through a 16-byte-wide
 * WebAssembly SIMD loop instead: copied into a small scratch memory, XORed
 * there, copied back. Two memcpys plus the SIMD loop cost about a third to a
 * half of the 32-bit JS loop from 1 KiB up (bench/micro.ts, "unmask" rows). If
 * the runtime has no WebAssembly SIMD the JS loop does everything.
 */
import { randomUint32 } from './random';
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';
/**
 * Below this the byte loop wins: the word loop's typed-array view costs an
 * allocation and ~80 ns to create (64 B: 143 ns with the view, 93 ns without).
 */
const WORD_THRESHOLD = 128;

/**
 * XORs `buf[start, end)` in place with `key`, where `phase` is the offset of
 * `start` within the frame payload (non-zero when a payload arrives in pieces).
 */
export function applyMask(buf: Buffer, start: number, end: number, key: number, phase = 0): void {
  if (key === 0 || start >= end) return;
  // Rotate the key so that position `start` uses its byte 0.
  const k = rotateKey(key, phase);
  if (end - start >= SIMD_THRESHOLD && simdMask !== null) {
    simdMask(buf, start, end, k);
    return;
  }
  applyMaskRotated(buf, start, end, k);
}

/** The JS loop, for `k` already rotated to `start` (exported for tests and bench/micro.ts). */
export function applyMaskRotated(buf: Buffer, start: number, end: number, k: number): void {
  const k0 = (k >>> 24) & 0xff;
  const k1 = (k >>> 16) & 0xff;
  const k2 = (k >>> 8) & 0xff;
  const k3 = k & 0xff;
  let i = start;
  if (LITTLE_ENDIAN && end - start >= WORD_THRESHOLD) {
    // Bytes up to the first 4-byte aligned address.
    const misalign = (4 - ((buf.byteOffset + i) & 3)) & 3;
    // Key byte j (0..3) is (k >>> (24 - 8j)) & 0xff: no per-call array.
    for (let j = 0; j < misalign; j++, i++) buf[i] ^= (k >>> (24 - 8 * j)) & 0xff;
    const r = misalign & 3;
    // The key word, little-endian, starting at key byte r (k rotated left by r bytes).
    const word = keyWordLE(rotateKey(k, r));
    const words = (end - i) >>> 2;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    // Unrolled by 8: about 1.5x the plain loop in V8 (bench/micro.ts).
    let w = 0;
    for (const n = words - 7; w < n; w += 8) {
      view[w] ^= word;
      view[w + 1] ^= word;
      view[w + 2] ^= word;
      view[w + 3] ^= word;
      view[w + 4] ^= word;
      view[w + 5] ^= word;
      view[w + 6] ^= word;
      view[w + 7] ^= word;
    }
    for (; w < words; w++) view[w] ^= word;
    i += words << 2;
    for (let j = r; i < end; j++, i++) buf[i] ^= (k >>> (24 - 8 * (j & 3))) & 0xff;
    return;
  }
  const n = end - 3;
  for (; i < n; i += 4) {
    buf[i] ^= k0;
    buf[i + 1] ^= k1;
    buf[i + 2] ^= k2;
    buf[i + 3] ^= k3;
  }
  if (i < end) buf[i++] ^= k0;
  if (i < end) buf[i++] ^= k1;
  if (i < end) buf[i] ^= k2;
}

/** `key` rotated left by `bytes` (mod 4) bytes: its byte `bytes` comes first. */
function rotateKey(key: number, bytes: number): number {
  const shift = (bytes & 3) * 8;
  return shift === 0 ? key | 0 : ((key << shift) | (key >>> (32 - shift))) | 0;
}

/** The 4 key bytes of `k` (most significant first on the wire) as a little-endian 32-bit word. */
function keyWordLE(k: number): number {
  return ((k >>> 24) & 0xff) | (((k >>> 16) & 0xff) << 8) | (((k >>> 8) & 0xff) << 16) | ((k & 0xff) << 24);
}

/** Runs at least this long use the SIMD loop (below it the JS loop is as fast). */
export const SIMD_THRESHOLD = 1024;
/** Bytes XORed per trip through the scratch memory: small enough to stay in L1/L2. */
const SIMD_BLOCK = 16 * 1024;

/**
 * The module, hand-assembled (it is 100-odd bytes; no toolchain needed):
 *
 *   (module
 *     (memory (export "memory") 1)
 *     (func (export "mask") (param $p i32) (param $n i32) (param $k i32)
 *       (local $end i32) (local $kv v128)
 *       (local.set $kv (i32x4.splat (local.get $k)))
 *       (local.set $end (i32.add (local.get $p) (local.get $n)))
 *       (block (loop
 *         (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
 *         ;; four times, at offsets 0, 16, 32, 48:
 *         (v128.store offset=0 (local.get $p)
 *           (v128.xor (v128.load offset=0 (local.get $p)) (local.get $kv)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (br 0)))))
 *
 * `$n` is a multiple of 64. WebAssembly memory is little-endian on every host,
 * so the key word is assembled little-endian whatever `os.endianness()` says.
 */
function simdModuleBytes(): Uint8Array {
  const xor16 = (offset: number) => [
    0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, offset, // p; v128.load align=16 offset
    0x20, 0x04, 0xfd, 0x51, // local.get $kv; v128.xor
    0xfd, 0x0b, 0x04, offset, // v128.store align=16 offset
  ];
  const body = [
    0x02, 0x01, 0x7f, 0x01, 0x7b, // locals: 1 i32, 1 v128
    0x20, 0x02, 0xfd, 0x11, 0x21, 0x04, // $kv = i32x4.splat($k)
    0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x03, // $end = $p + $n
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x00, 0x20, 0x03, 0x4f, 0x0d, 0x01, // br_if 1 ($p >= $end)
    ...xor16(0x00), ...xor16(0x10), ...xor16(0x20), ...xor16(0x30),
    0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // $p += 64
    0x0c, 0x00, // br 0
    0x0b, 0x0b, 0x0b, // end loop, end block, end func
  ];
  const code = [0x01, body.length, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32 i32 i32) -> ()
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page (64 KiB)
    0x07, 0x11, 0x02, // exports: 2
    0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // "memory" -> memory 0
    0x04, 0x6d, 0x61, 0x73, 0x6b, 0x00, 0x00, // "mask" -> func 0
    0x0a, code.length, ...code,
  ]);
}

type SimdMask = (buf: Buffer, start: number, end: number, k: number) => void;

/** The part of the WebAssembly global used here (the TS lib in use has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

function createSimdMask(): SimdMask | null {
  if (process.env.WS_RX_NO_SIMD === '1') return null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    const instance = new wasm.Instance(new wasm.Module(simdModuleBytes()));
    const mask = instance.exports.mask as (p: number, n: number, k: number) => void;
    const scratch = new Uint8Array((instance.exports.memory as { buffer: ArrayBuffer }).buffer);
    return (buf, start, end, k) => {
      // Key bytes in wire order, k's most significant byte first, at scratch offset 0.
      const word = keyWordLE(k);
      for (let s = start; s < end; s += SIMD_BLOCK) {
        const e = end - s > SIMD_BLOCK ? s + SIMD_BLOCK : end;
        const n = e - s;
        scratch.set(buf.subarray(s, e), 0);
        mask(0, (n + 63) & ~63, word);
        buf.set(scratch.subarray(0, n), s);
      }
    };
  } catch {
    return null; // no WebAssembly SIMD here: the JS loop does it all
  }
}

const simdMask: SimdMask | null = createSimdMask();

/** Whether runs of {@link SIMD_THRESHOLD} bytes and more use WebAssembly SIMD. */
export const simdMasking: boolean = simdMask !== null;

/** The SIMD path alone (for tests and bench/micro.ts); `null` without SIMD. */
export function applyMaskSimd(buf: Buffer, start: number, end: number, key: number): boolean {
  if (simdMask === null) return false;
  simdMask(buf, start, end, key | 0);
  return true;
}

/**
 * A fresh random masking key (RFC 6455 §5.3: unpredictable, per frame), from
 * the pooled random bytes: a client frame costs no crypto call of its own.
 */
export function randomMaskKey(): number {
  return randomUint32();
}
