/**
 * One raw-TCP WebSocket client connection driven by a conformance case.
 *
 * This reproduces the observable behaviour of Autobahn|Testsuite's fuzzing
 * client (autobahn-python `WebSocketProtocol` with `failByDrop = False`) so
 * that the bookkeeping used for grading - `closedByMe`, `droppedByMe`,
 * `wasClean`, `remoteCloseCode` - means the same thing as in Autobahn:
 *
 * - `closedByMe`: we sent the first close frame (including when *we* had to fail
 *   the connection because the server did not).
 * - `droppedByMe`: we had to drop the TCP connection (the server should do it).
 * - `wasClean`: close frames were exchanged and the server dropped TCP in time.
 *
 * Everything the server sends is checked for legality (masking, RSV bits,
 * opcodes, control-frame rules, fragmentation, UTF-8 of text messages and close
 * reasons, close codes). The first violation is recorded; like Autobahn we then
 * fail the connection (close 1002, or drop if already closing).
 *
 * @packageDocumentation
 */

import * as net from 'node:net';
import { Opcode, acceptKey, buildFrame, closePayload, describePayload, randomKey, toBuffer } from './frames';
import { ExtensionElement, checkServerResponse, createPmdState, formatExtension } from './pmd';
import { PeerSession, yieldTurn } from './peer-session';

/** An event observed from the server, in Autobahn's vocabulary. */
export type ReceivedEvent =
  | { kind: 'message'; binary: boolean; payload: Buffer }
  | { kind: 'ping'; payload: Buffer }
  | { kind: 'pong'; payload: Buffer }
  | { kind: 'timeout'; tag: string };

/** The parsed HTTP response to our opening handshake. */
export interface HttpResponse {
  statusCode: number;
  statusLine: string;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Raw response head (up to the blank line). */
  head: string;
}

/** Protocol timeouts (milliseconds), Autobahn defaults. */
export interface SessionTimeouts {
  /** Time allowed for the server to answer the opening handshake. */
  openHandshakeMs: number;
  /** Time allowed for the server to answer our close frame. */
  closeHandshakeMs: number;
  /** Time allowed for the server to drop TCP after the close handshake. */
  serverDropMs: number;
}

/** Autobahn's defaults (5 s / 1 s / 1 s). */
export const DEFAULT_TIMEOUTS: SessionTimeouts = { openHandshakeMs: 5000, closeHandshakeMs: 1000, serverDropMs: 1000 };

/** How to open the connection. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** Request target, e.g. "/". */
  path: string;
  /**
   * Custom raw request builder (handshake cases). Receives a fresh random key
   * and the Host header value. Default: a canonical RFC 6455 request.
   */
  request?: (key: string, host: string, path: string) => string;
  /** Write the request in chops of this many bytes (with an event-loop turn between). */
  chop?: number;
  /** If false the response is collected but no upgrade is attempted even on 101. */
  expectUpgrade: boolean;
  /** permessage-deflate offers (12.x/13.x): sent as one Sec-WebSocket-Extensions header, the response is checked (RFC 7692). */
  extensions?: ExtensionElement[];
}

/** Connection state, as in Autobahn. */
export type SessionState = 'connecting' | 'open' | 'closing' | 'closed';

const MAX_WIRELOG = 400;

/** Canonical client opening handshake. */
export function defaultRequest(key: string, host: string, path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n' +
    'User-Agent: ws-rx-conformance/1.0\r\n' +
    '\r\n'
  );
}

/** Parse an HTTP/1.1 response head. Returns null when malformed. */
export function parseHttpResponse(head: string): HttpResponse | null {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const i = line.indexOf(':');
    if (i <= 0) return null;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value;
  }
  return { statusCode: Number(m[1]), statusLine: lines[0], headers, head };
}

/**
 * A single client connection to the server under test. Create one per case.
 */
export class ClientSession extends PeerSession {
  state: SessionState = 'connecting';
  connectionWasOpen = false;
  droppedByMe = false;
  wasCloseHandshakeTimeout = false;
  wasServerConnectionDropTimeout = false;
  localCloseCode: number | null = null;
  /** Did the server send a close frame at all? */
  serverSentClose = false;
  /** Did the server half-close / close TCP (FIN or RST) before we dropped? */
  serverDroppedTcp = false;
  /** Handshake response (null until received). */
  response: HttpResponse | null = null;
  /** Why the opening handshake failed (null if it succeeded or is pending). */
  handshakeError: string | null = null;

  private socket: net.Socket | null = null;
  /** Frames sent by this session are masked (it is a client). */
  readonly masksFrames = true;

  constructor(readonly timeouts: SessionTimeouts = DEFAULT_TIMEOUTS) {
    super('server', MAX_WIRELOG);
  }

  /**
   * Open TCP and perform the opening handshake. Resolves once the handshake
   * response has been read (or failed). `connectionWasOpen` tells whether the
   * WebSocket is open.
   */
  connect(opts: ConnectOptions): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (err?: string): void => {
        if (done) return;
        done = true;
        if (err) this.handshakeError = err;
        resolve();
      };
      const key = randomKey();
      const hostHeader = `${opts.host}:${opts.port}`;
      let reqText = (opts.request ?? defaultRequest)(key, hostHeader, opts.path);
      if (opts.extensions?.length)
        reqText = reqText.replace(/\r\n\r\n$/, `\r\nSec-WebSocket-Extensions: ${opts.extensions.map(formatExtension).join(', ')}\r\n\r\n`);
      const sock = net.connect({ host: opts.host, port: opts.port });
      this.socket = sock;
      sock.setNoDelay(true);
      let head = Buffer.alloc(0);
      const hsTimer = setTimeout(() => {
        finish(`no handshake response within ${this.timeouts.openHandshakeMs} ms`);
        this.drop('opening handshake timeout');
      }, this.timeouts.openHandshakeMs);

      const onData = (chunk: Buffer): void => {
        if (this.state === 'closed') return;
        if (done) {
          if (this.connectionWasOpen) this.onBytes(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65536) {
            clearTimeout(hsTimer);
            finish('handshake response head too large');
            this.drop('bad handshake');
          }
          return;
        }
        clearTimeout(hsTimer);
        const headText = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        this.log(`RX handshake: ${headText.split('\r\n')[0]}`);
        const resp = parseHttpResponse(headText);
        this.response = resp;
        if (!resp) {
          finish('malformed HTTP response');
          return;
        }
        if (!opts.expectUpgrade) {
          finish();
          return;
        }
        const err = this.checkUpgrade(resp, key, opts.extensions);
        if (err) {
          finish(err);
          return;
        }
        this.state = 'open';
        this.connectionWasOpen = true;
        finish();
        if (rest.length) this.onBytes(rest);
      };

      sock.on('data', onData);
      sock.on('end', () => {
        this.serverDroppedTcp = true;
        this.log('RX FIN (server closed TCP)');
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        if (!this.droppedByMe) this.serverDroppedTcp = true;
        this.log(`socket error ${e.code ?? e.message}`);
      });
      sock.on('close', () => {
        clearTimeout(hsTimer);
        finish(this.response ? 'connection closed during handshake' : 'connection closed before handshake response');
        this.tcpClosed(this.droppedByMe ? 'TCP closed (dropped by us)' : 'TCP closed (by server)');
      });
      sock.on('connect', () => {
        const data = Buffer.from(reqText, 'latin1');
        this.log(`TX handshake (${data.length} bytes${opts.chop ? `, chops of ${opts.chop}` : ''})`);
        if (opts.chop && opts.chop > 0) void this.writeChopped(data, opts.chop);
        else sock.write(data);
      });
    });
  }

  private checkUpgrade(resp: HttpResponse, key: string, offers?: ExtensionElement[]): string | null {
    if (resp.statusCode !== 101) return `expected HTTP 101, got "${resp.statusLine}"`;
    const h = resp.headers;
    if ((h['upgrade'] ?? '').toLowerCase() !== 'websocket') return `bad Upgrade header: ${h['upgrade']}`;
    const conn = (h['connection'] ?? '').toLowerCase().split(',').map((s) => s.trim());
    if (!conn.includes('upgrade')) return `bad Connection header: ${h['connection']}`;
    if (h['sec-websocket-accept'] !== acceptKey(key)) return `bad Sec-WebSocket-Accept: ${h['sec-websocket-accept']}`;
    if (offers?.length) {
      const p = checkServerResponse(h['sec-websocket-extensions'], offers);
      if (typeof p === 'string') return `invalid permessage-deflate response: ${p}`;
      if (p) {
        this.pmd = createPmdState(p, 'client', h['sec-websocket-extensions'] ?? '');
        this.log(`permessage-deflate agreed: ${h['sec-websocket-extensions']}`);
      } else this.log('permessage-deflate declined by the server');
    } else if (h['sec-websocket-extensions']) return `server selected an extension we did not offer: ${h['sec-websocket-extensions']}`;
    if (h['sec-websocket-protocol']) return `server selected a subprotocol we did not offer: ${h['sec-websocket-protocol']}`;
    return null;
  }

  // --- sending --------------------------------------------------------------

  /** Write raw bytes now (no-op once TCP is gone). */
  write(data: Buffer): void {
    const s = this.socket;
    if (!s || this.state === 'closed' || s.destroyed) return;
    s.write(data, () => undefined);
  }

  /**
   * Autobahn `sendFrame`: send a frame (any frame, in any state but closed).
   * `chop` splits the frame's octets into chops; `sync` yields after the write.
   */
  async sendFrame(spec: Parameters<typeof buildFrame>[0], opts: { chop?: number; sync?: boolean } = {}): Promise<void> {
    if (this.state === 'closed') return;
    const f = buildFrame(spec);
    this.log(
      `TX frame op=${spec.opcode} fin=${spec.fin !== false ? 1 : 0} rsv=${spec.rsv ?? 0} len=${f.length} payload=${describePayload(toBuffer(spec.payload), 24)}${opts.chop ? ` chop=${opts.chop}` : ''}${opts.sync ? ' sync' : ''}`,
    );
    if (opts.chop && opts.chop > 0) await this.writeChopped(f, opts.chop);
    else {
      this.write(f);
      if (opts.sync) await yieldTurn();
    }
  }

  /**
   * Autobahn `sendCloseFrame`: send a close frame with an arbitrary payload
   * (only in state open; ignored while closing, as in Autobahn).
   */
  sendCloseFrame(payload: Buffer, isReply: boolean): void {
    if (this.state !== 'open') {
      this.log(`(close frame suppressed in state ${this.state})`);
      return;
    }
    this.log(`TX close ${payload.length >= 2 ? payload.readUInt16BE(0) : '(no code)'}${isReply ? ' (reply)' : ''} payload=${describePayload(payload, 24)}`);
    this.write(buildFrame({ opcode: Opcode.CLOSE, payload }));
    this.closeFrameSent = true;
    this.state = 'closing';
    this.closedByMe = !isReply;
    this.localCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : null;
    if (this.closedByMe) {
      this.closeHandshakeTimer = setTimeout(() => {
        this.closeHandshakeTimer = null;
        if (this.state === 'closed' || this.serverSentClose) return;
        this.wasClean = false;
        this.wasNotCleanReason = 'peer did not respond (in time) in closing handshake';
        this.wasCloseHandshakeTimeout = true;
        this.drop('close handshake timeout');
      }, this.timeouts.closeHandshakeMs);
    }
  }

  /**
   * Autobahn `failConnection` with `failByDrop = False`: if open, send close
   * (1001 by default) and run the closing handshake; otherwise drop TCP.
   */
  failConnection(code = 1001, reason = 'Going Away'): void {
    if (this.state === 'closed') return;
    this.failedByMe = true;
    if (this.state === 'open') this.sendCloseFrame(closePayload(code, reason), false);
    else {
      this.wasClean = false;
      this.wasNotCleanReason =
        this.serverSentClose && this.closeFrameSent
          ? 'server did not drop TCP connection (in time) after the close handshake'
          : this.closedByMe && !this.serverSentClose
            ? 'peer did not respond (in time) in closing handshake'
            : 'I failed the WebSocket connection by dropping the TCP connection';
      this.drop('fail connection');
    }
  }

  /** Drop the TCP connection ourselves (records `droppedByMe` unless the server already closed it). */
  drop(why: string): void {
    const s = this.socket;
    if (!s || s.destroyed) return;
    if (!this.serverDroppedTcp) this.droppedByMe = true;
    this.log(`dropping TCP: ${why}`);
    s.destroy();
  }

  // --- receiving ------------------------------------------------------------

  protected peerSentClose(): boolean {
    return this.serverSentClose;
  }

  protected abortUnframeable(): void {
    this.drop('unframeable data');
  }

  protected onCloseFrame(payload: Buffer): void {
    this.serverSentClose = true;
    if (!this.parseClose(payload)) return;
    if (this.state === 'closing') {
      // Reply to our own close: handshake complete, the server must now drop TCP.
      if (this.closeHandshakeTimer) clearTimeout(this.closeHandshakeTimer);
      this.closeHandshakeTimer = null;
      this.wasClean = true;
      this.expectServerDrop();
    } else if (this.state === 'open') {
      // Server-initiated close: echo with 1000 (Autobahn default, echoCloseCodeReason = False).
      this.wasClean = true;
      this.sendCloseFrame(closePayload(1000), true);
      this.expectServerDrop();
    }
  }

  private expectServerDrop(): void {
    if (this.serverDroppedTcp) return;
    this.schedule(this.timeouts.serverDropMs, () => {
      this.wasClean = false;
      this.wasNotCleanReason = 'server did not drop TCP connection (in time)';
      this.wasServerConnectionDropTimeout = true;
      this.drop('server did not drop TCP after close handshake');
    });
  }
}
