/**
 * A hostile peer that sends a message as millions of one-byte continuation
 * frames. Each fragment used to be kept as a Buffer of its own (~100 bytes of
 * objects for one byte of payload), so 28 MB of such frames grew a server by
 * about 430 MB, past anything `maxPayload` promised, and a few hundred MB more
 * would have ended the process (ws does the same). The server runs in its
 * own process so that its memory can be read from /proc.
 */
import { expect } from 'chai';
import * as zlib from 'node:zlib';
import { echoChildScope, rawUpgrade, rssWatch, zeroMaskFrame as frame } from './util';

const FRAGMENTS = 4_000_000; // 1 byte each, 7 bytes on the wire: 28 MB
const GROWTH_LIMIT = 64 * 1024 * 1024;

for (const deflate of [false, true]) describe(`integration/fragments (child process${deflate ? ', permessage-deflate agreed' : ''})`, function () {
  this.timeout(60000);
  const server = echoChildScope(deflate ? ['--deflate'] : []);

  it(`holds a message of ${FRAGMENTS} one-byte fragments in memory proportional to its bytes, and echoes it whole`, async () => {
    const { socket, head, after } = await rawUpgrade(server.port, deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '');
    expect(head).to.match(/^HTTP\/1\.1 101/);
    expect(/permessage-deflate/i.test(head)).to.equal(deflate);
    const received: Buffer[] = [after];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.resume();

    await new Promise((r) => setTimeout(r, 200));
    const rss = rssWatch(server.child.pid!);
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
      let message: Buffer | null = null;
      while (message === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        const echo = Buffer.concat(received);
        if (echo.length < 2) continue;
        const len7 = echo[1] & 0x7f;
        const at = len7 === 127 ? 10 : len7 === 126 ? 4 : 2;
        if (echo.length < at) continue;
        const length = len7 === 127 ? Number(echo.readBigUInt64BE(2)) : len7 === 126 ? echo.readUInt16BE(2) : len7;
        if (echo.length < at + length) continue;
        expect(echo.length, 'one frame, nothing after it').to.equal(at + length);
        expect(echo[0]).to.equal(deflate ? 0xc1 : 0x81);
        const payload = echo.subarray(at);
        message = deflate
          ? zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
          : payload;
      }
      expect(message, 'the whole echo arrived').to.not.equal(null);
      expect(message!.length).to.equal(FRAGMENTS);
      expect(message!.indexOf(0x7a), 'only the last byte is a "z"').to.equal(FRAGMENTS - 1);
      expect(message!.subarray(0, FRAGMENTS - 1).every((b) => b === 0x61)).to.equal(true);
    } finally {
      rss.stop();
      socket.destroy();
    }
    const { baseline } = rss;
    const peak = rss.peak();
    console.log(
      `      baseline ${(baseline / 1048576).toFixed(1)} MiB, peak ${(peak / 1048576).toFixed(1)} MiB, growth ${((peak - baseline) / 1048576).toFixed(1)} MiB for ${((FRAGMENTS * 7) / 1048576).toFixed(0)} MiB of frames`,
    );
    expect(peak - baseline).to.be.lessThan(GROWTH_LIMIT);
  });
});
