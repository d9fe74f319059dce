/**
 * The default backpressure contract: `conn.messages$.subscribe(conn)` facing a
 * client that sends 512 MiB and does not read stays within 64 MB of its
 * starting memory (ws-rx stops reading while its write buffer is over the
 * high-water mark), and once the client reads, every byte comes back.
 */
import { expect } from 'chai';
import { drainedWithin, echoChildScope, rawUpgrade, rssWatch } from './util';

const TOTAL = 512 * 1024 * 1024;
const PAYLOAD = 64 * 1024;
const FRAMES = TOTAL / PAYLOAD;
const LIMIT = 64 * 1024 * 1024;

for (const sockets of ['direct', 'net'] as const) describe(`integration/backpressure (child process, ${sockets} sockets)`, function () {
  this.timeout(60000);
  const server = echoChildScope(sockets === 'net' ? ['--net-sockets'] : []);

  it('an echo facing a client that sends 512 MiB without reading stays within 64 MB, and loses nothing', async () => {
    const { socket, head, after } = await rawUpgrade(server.port);
    expect(head).to.match(/^HTTP\/1\.1 101/);
    let received = after.length;
    socket.pause(); // from here on the client does not read
    socket.on('data', (d) => (received += d.length));

    // One masked binary frame of 64 KiB (an all-zero mask key leaves the payload as is).
    const frame = Buffer.alloc(14 + PAYLOAD, 0x61);
    frame[0] = 0x82;
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(PAYLOAD, 6);
    frame.writeUInt32BE(0, 10);

    // Let the child settle, then take the baseline.
    await new Promise((r) => setTimeout(r, 200));
    const rss = rssWatch(server.child.pid!);

    let sent = 0;
    const writeUntilStalled = async (stallMs: number): Promise<void> => {
      while (sent < FRAMES) {
        if (socket.write(frame)) {
          sent++;
          continue;
        }
        sent++;
        if (!(await drainedWithin(socket, stallMs))) return;
      }
    };

    try {
      // Phase 1: the client never reads; the server must stop reading too.
      await writeUntilStalled(1500);
      const stalledAt = sent;
      expect(stalledAt, 'the server stopped reading (backpressure)').to.be.lessThan(FRAMES);
      // Phase 2: the client reads; everything else flows.
      socket.resume();
      await writeUntilStalled(10000);
      expect(sent).to.equal(FRAMES);
      const expected = FRAMES * (10 + PAYLOAD);
      const deadline = Date.now() + 30000;
      while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received, 'every byte echoed').to.equal(expected);
      const { baseline } = rss;
      const peak = rss.peak();
      console.log(
        `      baseline ${(baseline / 1048576).toFixed(1)} MiB, peak ${(peak / 1048576).toFixed(1)} MiB, growth ${((peak - baseline) / 1048576).toFixed(1)} MiB; ${(stalledAt * PAYLOAD / 1048576).toFixed(0)} MiB accepted before the stall`,
      );
      expect(peak - baseline).to.be.lessThan(LIMIT);
    } finally {
      rss.stop();
      socket.destroy();
    }
  });
});
