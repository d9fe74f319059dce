import { expect } from 'chai';
import * as net from 'node:net';
import { retry, firstValueFrom } from 'rxjs';
import { WebSocketServer } from 'ws';
import { connect, ConnectionClosedError, HandshakeError } from '../../lib';
import { closedPort, openClient, outcome, startServer, within } from './util';

describe('integration/connect', () => {
  it('is cold: nothing happens until subscribed, and each subscription is a new connection', async () => {
    const server = await startServer();
    try {
      const c$ = connect(server.url);
      await new Promise((r) => setImmediate(r));
      expect(server.connections).to.have.length(0);
      const a = await openClient(server.url);
      const b = await openClient(server.url);
      expect(server.connections).to.have.length(2);
      expect(a.conn).to.not.equal(b.conn);
      a.sub.unsubscribe();
      b.sub.unsubscribe();
      void c$;
    } finally {
      server.stop();
    }
  });

  it('completes when the connection closes normally', async () => {
    const server = await startServer((c) => c.messages$.subscribe(() => c.close(1000, 'done')));
    try {
      const { conn, ended } = await openClient(server.url);
      conn.next('close please');
      expect(await within(ended)).to.deep.equal({ completed: true });
      expect(await conn.closed).to.deep.include({ code: 1000, reason: 'done', wasClean: true });
    } finally {
      server.stop();
    }
  });

  it('errors with the close code when the server closes abnormally', async () => {
    const server = await startServer((c) => c.messages$.subscribe({ next: () => c.close(4000, 'go away'), error: () => undefined }));
    try {
      const { conn, ended } = await openClient(server.url);
      conn.next('x');
      const { error } = await within(ended);
      expect(error).to.be.instanceOf(ConnectionClosedError);
      expect((error as ConnectionClosedError).closeCode).to.equal(4000);
      expect((error as ConnectionClosedError).reason).to.equal('go away');
    } finally {
      server.stop();
    }
  });

  it('errors with 1006 when the TCP connection drops without a close', async () => {
    const server = await startServer((c) => c.messages$.subscribe({ next: () => c.terminate(), error: () => undefined }));
    try {
      const { conn, ended } = await openClient(server.url);
      conn.next('x');
      const { error } = await within(ended);
      expect((error as ConnectionClosedError).closeCode).to.equal(1006);
      expect((error as ConnectionClosedError).code).to.equal('WS_ERR_CONNECTION_LOST');
    } finally {
      server.stop();
    }
  });

  it('unsubscribing closes with 1000', async () => {
    const server = await startServer(() => undefined);
    try {
      const { sub } = await openClient(server.url);
      const serverSide = server.connections[0];
      sub.unsubscribe();
      expect(await within(serverSide.closed)).to.deep.include({ code: 1000, wasClean: true });
    } finally {
      server.stop();
    }
  });

  it('a refused handshake errors with a HandshakeError carrying the status', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', verifyClient: () => false });
    await new Promise((r) => wss.once('listening', r));
    try {
      const { port } = wss.address() as net.AddressInfo;
      const { error } = await outcome(connect(`ws://127.0.0.1:${port}`));
      expect(error).to.be.instanceOf(HandshakeError);
      expect((error as HandshakeError).status).to.equal(401);
      expect((error as HandshakeError).code).to.equal('WS_ERR_HANDSHAKE_STATUS');
    } finally {
      wss.close();
    }
  });

  it('a refused TCP connection errors with WS_ERR_CONNECT', async () => {
    const port = await closedPort();
    const { error } = await outcome(connect(`ws://127.0.0.1:${port}`));
    expect((error as HandshakeError).code).to.equal('WS_ERR_CONNECT');
    expect(((error as Error & { cause?: NodeJS.ErrnoException }).cause as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  it('a server that never answers times out with WS_ERR_HANDSHAKE_TIMEOUT', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const { error } = await outcome(connect(`ws://127.0.0.1:${port}`, { handshakeTimeout: 150 }));
      expect((error as HandshakeError).code).to.equal('WS_ERR_HANDSHAKE_TIMEOUT');
    } finally {
      silent.close();
    }
  });

  it('rejects a bad URL with a typed error', async () => {
    const { error } = await outcome(connect('ftp://example.invalid/'));
    expect((error as HandshakeError).code).to.equal('WS_ERR_INVALID_URL');
  });

  it('retry() reconnects by construction', async () => {
    // The server closes every connection abnormally (4000): retry(2) makes
    // three connections, then the error goes through.
    const server = await startServer((c) => c.close(4000, 'again'));
    try {
      const result = await outcome(connect(server.url).pipe(retry(2)));
      expect(result.values).to.have.length(3);
      expect(new Set(result.values).size).to.equal(3);
      expect((result.error as ConnectionClosedError).closeCode).to.equal(4000);
      expect(server.connections).to.have.length(3);
    } finally {
      server.stop();
    }
  });

  it('talks to a ws server and reads its subprotocol choice', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('b') ? 'b' : false) });
    wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
    await new Promise((r) => wss.once('listening', r));
    try {
      const { port } = wss.address() as net.AddressInfo;
      const { conn, sub } = await openClient(`ws://127.0.0.1:${port}`, { protocols: ['a', 'b'] });
      expect(conn.protocol).to.equal('b');
      const echo = firstValueFrom(conn.messages$);
      conn.next('hello');
      expect(await within(echo)).to.equal('hello');
      sub.unsubscribe();
    } finally {
      wss.close();
    }
  });
});
