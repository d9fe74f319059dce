/**
 * Messages that arrive before anyone subscribes to `messages$` are held for
 * the first subscriber, and reading pauses once they add up to 64 KiB.
 * Empty and tiny messages must count too: each held message costs objects,
 * and a small one could keep alive the whole chunk it arrived in. Before,
 * only payload bytes counted, so a flood of empty frames was read and held
 * without end (11 million of them, 577 MB). The flood runs against a server
 * in its own process so that its memory can be read from /proc.
 */
import { expect } from 'chai';
import { firstValueFrom } from 'rxjs';
import { drainedWithin, echoChildScope, loopbackScope, rawUpgrade, rssWatch, within, zeroMaskFrame as frame } from './util';
import { until } from '../helpers';

const GROWTH_LIMIT = 64 * 1024 * 1024;

for (const size of [0, 1]) describe(`integration/held messages (child process, ${size}-byte messages)`, function () {
  this.timeout(60000);
  const server = echoChildScope(['--late']);

  it('stops reading while nobody subscribes, then echoes every message to the first subscriber', async () => {
    const { socket, head, after } = await rawUpgrade(server.port);
    expect(head).to.match(/^HTTP\/1\.1 101/);
    // Count the echoes: each one is `expected`, unmasked.
    const expected = Buffer.from([0x81, size, ...Buffer.alloc(size, 0x61)]);
    let echoed = 0;
    let bad = 0;
    let partial = after;
    socket.on('data', (c: Buffer) => {
      partial = partial.length > 0 ? Buffer.concat([partial, c]) : c;
      const n = Math.floor(partial.length / expected.length);
      for (let i = 0; i < n; i++) if (!partial.subarray(i * expected.length, (i + 1) * expected.length).equals(expected)) bad++;
      echoed += n;
      partial = partial.subarray(n * expected.length);
    });
    socket.resume();

    await new Promise((r) => setTimeout(r, 200));
    const rss = rssWatch(server.child.pid!);
    const one = frame(0x81, Buffer.alloc(size, 0x61));
    const perBatch = 10000;
    const batch = Buffer.concat(Array.from({ length: perBatch }, () => one));
    const most = Math.floor((64 * 1024 * 1024) / one.length); // 64 MB of frames at most
    let sent = 0;
    try {
      // Phase 1: nobody subscribes; the server must stop reading.
      let stalled = false;
      while (sent < most) {
        const ok = socket.write(batch);
        sent += perBatch;
        if (ok) continue;
        stalled = !(await drainedWithin(socket, 1500));
        if (stalled) break;
      }
      const growth = rss.peak() - rss.baseline;
      console.log(`      ${sent} frames accepted before the stall; growth ${(growth / 1048576).toFixed(1)} MiB`);
      expect(stalled, 'the server stopped reading').to.equal(true);
      expect(growth).to.be.lessThan(GROWTH_LIMIT);
      expect(echoed, 'nothing echoed while nobody subscribed').to.equal(0);

      // Phase 2: the first subscriber gets every message, in order, and reading resumes.
      server.child.stdin!.write('subscribe\n');
      const deadline = Date.now() + 30000;
      while (echoed < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(echoed).to.equal(sent);
      expect(bad).to.equal(0);
    } finally {
      rss.stop();
      socket.destroy();
    }
  });
});

describe('integration/held messages (in process)', () => {
  const { start } = loopbackScope();

  it('a held message does not keep alive the larger chunk it arrived in', async () => {
    const server = await start(() => undefined); // nobody subscribes yet
    const accepted = server.nextConnection();
    const { socket, after } = await rawUpgrade(server.port);
    const conn = await within(accepted);
    let pongs = after.length;
    socket.on('data', (c: Buffer) => (pongs += c.length));
    socket.resume();
    // One write: a one-byte binary message, then 450 pings (about 59 KB in all).
    const pings = 450;
    const ping = frame(0x89, Buffer.alloc(125, 0x70));
    socket.write(Buffer.concat([frame(0x82, Buffer.from([0x42])), ...Array.from({ length: pings }, () => ping)]));
    await until(() => pongs >= pings * 127, 5000, 'the pongs'); // every ping answered: the chunk was read
    const message = (await within(firstValueFrom(conn.messages$))) as Buffer;
    expect(message).to.deep.equal(Buffer.from([0x42]));
    // A view into the read chunk would have kept all of it (~59 KB) alive.
    expect(message.buffer.byteLength).to.be.below(16 * 1024);
    socket.destroy();
  });
});
