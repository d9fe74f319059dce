/**
 * Interop with python-websockets (Debian's python3-websockets, 10.x asyncio
 * API), both directions (issue 5, "Real peers nobody here wrote"):
 *
 * - ws-rx `connect` → python `websockets.serve` (peers/echo_server.py);
 * - python `websockets.connect` (peers/client_driver.py) → ws-rx `listen`.
 *
 * Each direction runs without compression, with permessage-deflate, and with
 * python offering it and ws-rx declining. python offers and accepts
 * permessage-deflate by default, so the plain variant turns it off there
 * (`compression=None`); ws-rx's side is `perMessageDeflate`.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { firstValueFrom } from 'rxjs';
import { ConnectionClosedError } from '../../lib/protocol/errors';
import {
  EchoServer,
  JsonLinePeer,
  SIZES,
  bytesOf,
  deflateOption,
  dial,
  drainWire,
  peerMissing,
  sizeLabel,
  startEchoServer,
  textOfBytes,
  withTimeout,
} from './support';

/** Debian's package is visible to the system interpreter only (not to a pyenv or venv python3); `INTEROP_PYTHON` overrides it. */
const PYTHON = process.env.INTEROP_PYTHON ?? '/usr/bin/python3';
const PEERS = path.join(__dirname, 'peers');

function pythonWebsocketsVersion(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

function b64(data: string | Buffer): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64');
}

interface Variant {
  name: string;
  /** python side: offer / accept permessage-deflate. */
  python: 'deflate' | 'none';
  /** ws-rx side: `perMessageDeflate`. */
  rx: boolean;
  /** Extensions both sides must report. */
  extensions: string[];
}

const VARIANTS: Variant[] = [
  { name: 'no compression', python: 'none', rx: false, extensions: [] },
  {
    name: 'python offers permessage-deflate, ws-rx declines',
    python: 'deflate',
    rx: false,
    extensions: [],
  },
  {
    name: 'permessage-deflate',
    python: 'deflate',
    rx: true,
    extensions: ['permessage-deflate'],
  },
];

describe('interop: python-websockets', function () {
  this.timeout(30_000);
  let version: string | null = null;

  before(function () {
    version = pythonWebsocketsVersion();
    if (version === null) peerMissing(this, `python-websockets (${PYTHON} -c 'import websockets')`, 'apt-get install python3-websockets');
  });

  for (const variant of VARIANTS) {
    describe(`ws-rx connect → python-websockets serve (${variant.name})`, function () {
      let server: JsonLinePeer | null = null;
      let port = 0;
      const rxOptions = deflateOption(variant.rx);

      before(async function () {
        if (version === null) this.skip();
        server = new JsonLinePeer(PYTHON, [path.join(PEERS, 'echo_server.py'), '--compression', variant.python]);
        const listening = await server.nextMatching((l) => l.event === 'listening', 10_000, 'python server to listen');
        port = listening.port as number;
      });

      after(async () => {
        await server?.stop();
      });

      /** The python side's open event for the next connection. */
      async function opened(): Promise<Record<string, unknown>> {
        return server!.nextMatching((l) => l.event === 'open', 10_000, 'python to see the connection open');
      }

      async function closedOnPython(id: unknown): Promise<Record<string, unknown>> {
        return server!.nextMatching((l) => l.event === 'closed' && l.id === id, 10_000, 'python to see the close');
      }

      it(`negotiates extensions ${JSON.stringify(variant.extensions)}`, async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/echo`, rxOptions);
        const open = await opened();
        expect(open.extensions).to.deep.equal(variant.extensions);
        expect(ep.conn.extensions.map((e) => e.name)).to.deep.equal(variant.extensions);
        ep.conn.close();
        await withTimeout(ep.conn.closed, 10_000, 'close');
        await closedOnPython(open.id);
      });

      for (const kind of ['text', 'binary'] as const) {
        it(`echoes ${kind} messages of ${SIZES.map(sizeLabel).join(', ')}`, async () => {
          const ep = await dial(`ws://127.0.0.1:${port}/echo`, rxOptions);
          const open = await opened();
          for (const size of SIZES) {
            const sent = kind === 'text' ? textOfBytes(size) : bytesOf(size);
            ep.conn.send(sent);
            const got = await ep.messages.next(10_000, `echo of ${kind} ${sizeLabel(size)}`);
            if (kind === 'text') {
              expect(got, `text ${sizeLabel(size)}`).to.be.a('string');
              expect(Buffer.byteLength(got as string), `text ${sizeLabel(size)} length`).to.equal(size);
              expect(got === sent, `text ${sizeLabel(size)} content`).to.equal(true);
            } else {
              expect(Buffer.isBuffer(got), `binary ${sizeLabel(size)}`).to.equal(true);
              expect((got as Buffer).length, `binary ${sizeLabel(size)} length`).to.equal(size);
              expect((got as Buffer).equals(sent as Buffer), `binary ${sizeLabel(size)} content`).to.equal(true);
            }
          }
          ep.conn.close();
          const info = await withTimeout(ep.conn.closed, 10_000, 'close');
          expect(info).to.include({ code: 1000, wasClean: true });
          expect((await closedOnPython(open.id)).code).to.equal(1000);
        });
      }

      it(`RSV1 on the wire: ${variant.extensions.length > 0 ? 'python compresses' : 'never'}`, async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/echo`, rxOptions, 10_000, { frames: true });
        const open = await opened();
        const text = textOfBytes(65536);
        ep.conn.send(text);
        expect(await ep.messages.next(10_000, 'the echo')).to.equal(text);
        const wire = drainWire(ep.frames!);
        if (variant.extensions.length > 0) {
          expect(wire.rsv1, 'compressed frames (RFC 7692 §6)').to.equal(true);
          expect(wire.bytes, 'bytes on the wire').to.be.below(65536 / 4);
        } else {
          expect(wire).to.deep.equal({ rsv1: false, bytes: 65536 });
        }
        ep.conn.close();
        await closedOnPython(open.id);
      });

      it('python sees the code and reason ws-rx closes with (4001)', async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/echo`, rxOptions);
        const open = await opened();
        ep.conn.close(4001, 'from ws-rx ✓');
        const info = await withTimeout(ep.conn.closed, 10_000, 'close');
        expect(info.wasClean).to.equal(true);
        expect(info.code).to.equal(4001); // python echoes the code (RFC 6455 §5.5.1)
        const closed = await closedOnPython(open.id);
        expect(closed).to.include({ code: 4001, reason: 'from ws-rx ✓' });
        const end = await ep.messages.whenEnded();
        expect(end.error).to.be.instanceOf(ConnectionClosedError);
      });

      it('ws-rx sees the code and reason python closes with (4000)', async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/close?code=4000&reason=bye%20%E2%9C%93`, rxOptions);
        const open = await opened();
        const info = await withTimeout(ep.conn.closed, 10_000, 'close');
        expect(info).to.include({ code: 4000, reason: 'bye ✓', wasClean: true });
        const end = await ep.messages.whenEnded();
        expect(end.error).to.be.instanceOf(ConnectionClosedError);
        expect((end.error as ConnectionClosedError).closeCode).to.equal(4000);
        expect((await closedOnPython(open.id)).code).to.equal(4000);
      });

      it('a normal close from python (1000) completes messages$', async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/close?code=1000&reason=done`, rxOptions);
        await opened();
        const info = await withTimeout(ep.conn.closed, 10_000, 'close');
        expect(info).to.include({ code: 1000, reason: 'done', wasClean: true });
        expect((await ep.messages.whenEnded()).error).to.equal(undefined);
      });

      it('ping from ws-rx is answered by python', async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/echo`, rxOptions);
        const open = await opened();
        const rtt = await withTimeout(firstValueFrom(ep.conn.ping('rx-ping')), 10_000, 'pong from python');
        expect(rtt).to.be.a('number').and.at.least(0);
        ep.conn.close();
        await closedOnPython(open.id);
      });

      it('ping from python is answered by ws-rx (and seen on pings$)', async () => {
        const ep = await dial(`ws://127.0.0.1:${port}/ping?data=py-ping`, rxOptions);
        const open = await opened();
        const ping = await ep.pings.next(10_000, 'the ping from python');
        expect(ping.toString()).to.equal('py-ping');
        // python sends this only after it received the pong.
        expect(await ep.messages.next(10_000, 'python to confirm the pong')).to.equal('pong:py-ping');
        ep.conn.close();
        await closedOnPython(open.id);
      });
    });

    describe(`python-websockets connect → ws-rx listen (${variant.name})`, function () {
      let client: JsonLinePeer | null = null;
      let echo: EchoServer | null = null;

      before(async function () {
        if (version === null) this.skip();
        echo = await startEchoServer(deflateOption(variant.rx), { frames: true });
        client = new JsonLinePeer(PYTHON, [path.join(PEERS, 'client_driver.py')]);
      });

      after(async () => {
        echo?.stop();
        await client?.stop();
      });

      async function pyConnect(): Promise<Record<string, unknown>> {
        const r = await client!.request({ op: 'connect', url: `ws://127.0.0.1:${echo!.port}/`, compression: variant.python });
        expect(r.error, String(r.error)).to.equal(undefined);
        return r;
      }

      async function pyRequest(command: Record<string, unknown>): Promise<Record<string, unknown>> {
        const r = await client!.request(command);
        expect(r.error, `${String(command.op)}: ${String(r.error)}`).to.equal(undefined);
        return r;
      }

      it(`negotiates extensions ${JSON.stringify(variant.extensions)}`, async () => {
        const r = await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        expect(r.extensions).to.deep.equal(variant.extensions);
        expect(ep.conn.extensions.map((e) => e.name)).to.deep.equal(variant.extensions);
        await pyRequest({ op: 'close', code: 1000, reason: '' });
        await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
      });

      for (const kind of ['text', 'binary'] as const) {
        it(`echoes ${kind} messages of ${SIZES.map(sizeLabel).join(', ')}`, async () => {
          await pyConnect();
          const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
          for (const size of SIZES) {
            const sent = kind === 'text' ? Buffer.from(textOfBytes(size), 'utf8') : bytesOf(size);
            await pyRequest({ op: 'send', type: kind, data: b64(sent) });
            const got = await pyRequest({ op: 'recv' });
            expect(got.type, `${kind} ${sizeLabel(size)} type`).to.equal(kind);
            const bytes = Buffer.from(got.data as string, 'base64');
            expect(bytes.length, `${kind} ${sizeLabel(size)} length`).to.equal(size);
            expect(bytes.equals(sent), `${kind} ${sizeLabel(size)} content`).to.equal(true);
          }
          const r = await pyRequest({ op: 'close', code: 1000, reason: '' });
          expect(r.code).to.equal(1000);
          const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
          expect(info).to.include({ code: 1000, wasClean: true });
        });
      }

      it(`RSV1 on the wire: ${variant.extensions.length > 0 ? 'python compresses' : 'never'}`, async () => {
        await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        const text = Buffer.from(textOfBytes(65536));
        await pyRequest({ op: 'send', type: 'text', data: b64(text) });
        expect(Buffer.from((await pyRequest({ op: 'recv' })).data as string, 'base64').equals(text)).to.equal(true);
        const wire = drainWire(ep.frames!);
        if (variant.extensions.length > 0) {
          expect(wire.rsv1, 'compressed frames (RFC 7692 §6)').to.equal(true);
          expect(wire.bytes, 'bytes on the wire').to.be.below(65536 / 4);
        } else {
          expect(wire).to.deep.equal({ rsv1: false, bytes: 65536 });
        }
        await pyRequest({ op: 'close', code: 1000, reason: '' });
      });

      it('ws-rx sees the code and reason python closes with (4001)', async () => {
        await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        const r = await pyRequest({ op: 'close', code: 4001, reason: 'from python ✓' });
        expect(r.code).to.equal(4001); // ws-rx echoes the code (RFC 6455 §5.5.1)
        const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to see the close');
        expect(info).to.include({ code: 4001, reason: 'from python ✓', wasClean: true });
        const end = await ep.messages.whenEnded();
        expect(end.error).to.be.instanceOf(ConnectionClosedError);
      });

      it('python sees the code and reason ws-rx closes with (4000)', async () => {
        await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        ep.conn.close(4000, 'bye ✓');
        const r = await pyRequest({ op: 'wait_closed' });
        expect(r).to.include({ code: 4000, reason: 'bye ✓' });
        const info = await withTimeout(ep.conn.closed, 10_000, 'ws-rx to finish closing');
        expect(info.wasClean).to.equal(true);
        expect(info.code).to.equal(4000); // python echoes the code
        const recv = await client!.request({ op: 'recv' });
        expect(recv.closed).to.equal(true);
      });

      it('ping from python is answered by ws-rx (and seen on pings$)', async () => {
        await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        await pyRequest({ op: 'ping', data: 'py-ping' });
        expect((await ep.pings.next(10_000, 'the ping on pings$')).toString()).to.equal('py-ping');
        await pyRequest({ op: 'close', code: 1000, reason: '' });
      });

      it('ping from ws-rx is answered by python', async () => {
        await pyConnect();
        const ep = await echo!.connections.next(10_000, 'ws-rx to accept');
        const rtt = await withTimeout(firstValueFrom(ep.conn.ping('rx-ping')), 10_000, 'pong from python');
        expect(rtt).to.be.a('number').and.at.least(0);
        await pyRequest({ op: 'close', code: 1000, reason: '' });
      });
    });
  }
});
