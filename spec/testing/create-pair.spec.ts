import { expect } from 'chai';
import { firstValueFrom, lastValueFrom, map, take, toArray } from 'rxjs';
import { ConnectionClosedError, Opcode } from '../../lib';
import { createPair, duplexPair, virtualStreamPair } from '../../lib/testing';
import { closeInfo$, testScheduler } from '../operators/marbles';

describe('testing: createPair', () => {
  it('joins a client and a server in memory, in real time (echo, then a clean close)', async () => {
    const { client, server } = createPair();
    server.messages$.subscribe(server);
    const echoed = lastValueFrom(client.messages$.pipe(take(2), toArray()));
    client.next('hello ✓');
    client.next(Buffer.from([1, 2, 3]));
    expect(await echoed).to.deep.equal(['hello ✓', Buffer.from([1, 2, 3])]);
    client.complete();
    const [c, s] = await Promise.all([client.closed, server.closed]);
    expect(c).to.include({ code: 1000, wasClean: true });
    expect(s).to.include({ code: 1000, wasClean: true });
  });

  it('masks what the client sends and not what the server sends (RFC 6455 §5.3), through the real parser', async () => {
    const { client, server } = createPair();
    const serverFrames = firstValueFrom(server.frames$);
    const clientFrames = firstValueFrom(client.frames$);
    client.send('up');
    server.send('down');
    // frames$ shows the unmasked payloads; the server-side parser refuses unmasked
    // client frames (1002), so arriving at all proves the masking.
    expect((await serverFrames).payload.toString()).to.equal('up');
    expect((await clientFrames).payload.toString()).to.equal('down');
    client.complete();
    await server.closed;
  });

  it('with a scheduler, runs the conversation in virtual time, latency included', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const { client, server } = createPair({ scheduler, latency: 2 });
      server.messages$.subscribe(server);
      cold('a-b|', { a: 'one', b: 'two' }).subscribe(client);
      // Each message comes back 4 ms (two trips) after it goes. The close goes at 3,
      // reaches the server at 5; its answer and FIN reach the client at 7.
      expectObservable(client.messages$).toBe('4ms a-b|', { a: 'one', b: 'two' });
      expectObservable(closeInfo$(server).pipe(map((i) => i.wasClean))).toBe('9ms (t|)', { t: true });
    });
  });

  it('a close code from one side reaches the other in virtual time; raw close frames are refused', () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const { client, server } = createPair({ scheduler });
      // A raw frame the core refuses to send is refused before it goes out.
      expect(() => client.sendFrame({ fin: true, opcode: Opcode.Close })).to.throw();
      scheduler.schedule(() => server.close(4000, 'app'), 1);
      expectObservable(client.messages$).toBe('-#', undefined, new ConnectionClosedError(4000, 'app', true));
    });
  });

  it('silence() makes a side answer nothing', () => {
    const scheduler = testScheduler();
    scheduler.run(({ expectObservable }) => {
      const { client, server, silence } = createPair({ scheduler });
      silence('client');
      scheduler.schedule(() => server.ping().subscribe({ error: () => {} }), 1);
      expectObservable(server.pongs$, '^ 9ms !').toBe('');
      expectObservable(client.pings$, '^ 9ms !').toBe('');
    });
  });
});

describe('testing: duplexPair', () => {
  it('carries bytes both ways with backpressure, and ends the peer on destroy', async () => {
    const [a, b] = duplexPair({ highWaterMark: 4 });
    const chunks: Buffer[] = [];
    b.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((r) => b.once('end', () => r()));
    expect(a.write(Buffer.from('0123456789'))).to.equal(false); // over the high-water mark
    await new Promise<void>((r) => a.once('drain', () => r()));
    a.destroy();
    await ended;
    expect(Buffer.concat(chunks).toString()).to.equal('0123456789');
  });

  it('virtualStreamPair delivers on the scheduler only', () => {
    const scheduler = testScheduler();
    scheduler.run(() => {
      const [a, b] = virtualStreamPair(scheduler, 3);
      const got: string[] = [];
      b.on('data', (c: Buffer) => got.push(`${scheduler.now()}:${c}`));
      b.resume();
      a.write(Buffer.from('x'));
      expect(got).to.deep.equal([]);
      scheduler.schedule(() => expect(got).to.deep.equal(['3:x']), 3);
    });
  });
});
