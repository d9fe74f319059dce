/**
 * A hostile peer that sends a message as millions of one-byte continuation
 * frames. Each fragment used to be kept as a Buffer of its own (~100 bytes of
 * objects for one byte of payload), so 30 MB of such frames grew a server by
 * about half a gigabyte, past anything `maxPayload` promised, and a few
 * hundred MB more ended the process (ws does the same). The server here runs
 * in its own process so that its memory can be read from /proc.
 */
import { expect } from 'chai';
import { spawn, ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const FRAGMENTS = 4_000_000; // 1 byte each, 7 bytes on the wire: 28 MB
const GROWTH_LIMIT = 64 * 1024 * 1024;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A masked frame (all-zero key) with a payload of up to 125 bytes. */
function frame(b0: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b0, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

for (const deflate of [false, true]) describe(`integration/fragments (child process${deflate ? ', permessage-deflate agreed' : ''})`, function () {
  this.timeout(60000);
  let child: ChildProcess;
  let port: number;

  before(async () => {
    const args = ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', 'fixtures', 'echo-child.ts')];
    if (deflate) args.push('--deflate');
    child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
      child.once('exit', (code) => reject(new Error(`echo child exited with ${code}`)));
    });
  });

  after(() => {
    child.stdin!.end();
    child.kill();
  });

  it(`holds a message of ${FRAGMENTS} one-byte fragments in memory proportional to its bytes, and echoes it whole`, async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
        '\r\n',
    );
    // Collect everything after the response head: the echo of the message.
    const received: Buffer[] = [];
    let head = '';
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.removeListener('data', onData);
        socket.on('data', (c: Buffer) => received.push(c));
        if (end + 4 < head.length) received.push(Buffer.from(head.slice(end + 4), 'latin1'));
        resolve();
      };
      socket.on('data', onData);
    });
    expect(head).to.match(/^HTTP\/1\.1 101/);
    expect(/permessage-deflate/i.test(head)).to.equal(deflate);

    await new Promise((r) => setTimeout(r, 200));
    const baseline = rssOf(child.pid!);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid!))), 20);
    try {
      // A text message: its first frame, then continuation frames of one byte each.
      const one = frame(0x00, Buffer.from('a'));
      const perBatch = 9000;
      const batch = Buffer.concat(Array.from({ length: perBatch }, () => one));
      socket.write(frame(0x01, Buffer.from('a')));
      let sent = 1;
      while (sent + perBatch < FRAGMENTS) {
        if (!socket.write(batch)) await new Promise((r) => socket.once('drain', r));
        sent += perBatch;
      }
      while (sent < FRAGMENTS - 1) {
        socket.write(one);
        sent++;
      }
      socket.write(frame(0x80, Buffer.from('z'))); // the final fragment
      sent++;
      expect(sent).to.equal(FRAGMENTS);

      // The echo: one text frame, unmasked; compressed when deflate was agreed.
      const deadline = Date.now() + 30000;
      let echo = Buffer.alloc(0);
      let message: Buffer | null = null;
      while (message === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        echo = Buffer.concat(received);
        if (echo.length < 2) continue;
        const len7 = echo[1] & 0x7f;
        const at = len7 === 127 ? 10 : len7 === 126 ? 4 : 2;
        if (echo.length < at) continue;
        const length = len7 === 127 ? Number(echo.readBigUInt64BE(2)) : len7 === 126 ? echo.readUInt16BE(2) : len7;
        if (echo.length >= at + length) {
          expect(echo.length, 'one frame, nothing after it').to.equal(at + length);
          expect(echo[0]).to.equal(deflate ? 0xc1 : 0x81);
          const payload = echo.subarray(at);
          message = deflate ? zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : payload;
        }
      }
      expect(message, 'the whole echo arrived').to.not.equal(null);
      expect(message!.length).to.equal(FRAGMENTS);
      expect(message!.indexOf(0x7a), 'only the last byte is a "z"').to.equal(FRAGMENTS - 1);
      expect(message!.subarray(0, FRAGMENTS - 1).every((b) => b === 0x61)).to.equal(true);
    } finally {
      clearInterval(sampler);
      socket.destroy();
    }
    console.log(
      `      baseline ${(baseline / 1048576).toFixed(1)} MiB, peak ${(peak / 1048576).toFixed(1)} MiB, growth ${((peak - baseline) / 1048576).toFixed(1)} MiB for ${(FRAGMENTS * 7 / 1048576).toFixed(0)} MiB of frames`,
    );
    expect(peak - baseline).to.be.lessThan(GROWTH_LIMIT);
  });
});
