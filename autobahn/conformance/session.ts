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
import {
  FrameParser,
  FramingError,
  Opcode,
  ParsedFrame,
  acceptKey,
  buildFrame,
  closePayload,
  describePayload,
  isValidCloseCode,
  isValidUtf8,
  randomKey,
  toBuffer,
  Bytes,
} from './frames';
import { ExtensionElement, PmdState, checkServerResponse, createPmdState, disposePmdState, formatExtension } from './pmd';

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

function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

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
export class ClientSession {
  state: SessionState = 'connecting';
  /** Events in arrival order (messages, pings, pongs, timeout markers). */
  readonly received: ReceivedEvent[] = [];
  connectionWasOpen = false;
  closedByMe = false;
  droppedByMe = false;
  failedByMe = false;
  wasClean = false;
  wasNotCleanReason: string | null = null;
  wasCloseHandshakeTimeout = false;
  wasServerConnectionDropTimeout = false;
  /** Close code from the server's close frame (null: none / empty close). */
  remoteCloseCode: number | null = null;
  remoteCloseReason: string | null = null;
  localCloseCode: number | null = null;
  /** Did the server send a close frame at all? */
  serverSentClose = false;
  /** Did we send a close frame? */
  closeFrameSent = false;
  /** Did the server half-close / close TCP (FIN or RST) before we dropped? */
  serverDroppedTcp = false;
  /** First protocol violation committed by the server, if any. */
  violation: string | null = null;
  /** Handshake response (null until received). */
  response: HttpResponse | null = null;
  /** Why the opening handshake failed (null if it succeeded or is pending). */
  handshakeError: string | null = null;
  /** Bounded human-readable wire log. */
  readonly wirelog: string[] = [];
  /** Called after each received event (used for Autobahn's `finishWhenDone`). */
  onEvent: ((ev: ReceivedEvent) => void) | null = null;
  /** Called when the TCP connection is gone. */
  readonly lost: Promise<void>;

  private socket: net.Socket | null = null;
  private resolveLost!: () => void;
  private readonly parser = new FrameParser();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closeHandshakeTimer: NodeJS.Timeout | null = null;
  private fragOpcode = -1;
  private fragParts: Buffer[] = [];
  private readonly t0 = Date.now();
  /** Frames sent by this session are masked (it is a client). */
  readonly masksFrames = true;
  /** permessage-deflate state when the server accepted our offer (null: not negotiated). */
  pmd: PmdState | null = null;
  /** With permessage-deflate, frames are handled in order through this chain (inflating is asynchronous). */
  private rxChain: Promise<void> = Promise.resolve();
  private fragCompressed = false;

  constructor(readonly timeouts: SessionTimeouts = DEFAULT_TIMEOUTS) {
    this.lost = new Promise((r) => (this.resolveLost = r));
  }

  /** Append to the wire log (bounded). */
  log(msg: string): void {
    if (this.wirelog.length < MAX_WIRELOG) this.wirelog.push(`${String(Date.now() - this.t0).padStart(5)}ms ${msg}`);
    else if (this.wirelog.length === MAX_WIRELOG) this.wirelog.push('... (wire log truncated)');
  }

  /** Schedule a callback that is cancelled when the connection is gone. */
  schedule(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.state !== 'closed') fn();
    }, ms);
    this.timers.add(t);
  }

  /** Record a timeout marker (Autobahn's `("timeout", tag)`). */
  recordTimeout(tag: string): void {
    this.pushEvent({ kind: 'timeout', tag });
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
        this.state = 'closed';
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        if (this.closeHandshakeTimer) clearTimeout(this.closeHandshakeTimer);
        this.log(this.droppedByMe ? 'TCP closed (dropped by us)' : 'TCP closed (by server)');
        // Messages still being inflated are recorded before the case is graded.
        void this.rxChain.then(() => {
          disposePmdState(this.pmd);
          this.resolveLost();
        });
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

  /** Write bytes in chops of `chop` bytes, yielding to the event loop between chops. */
  async writeChopped(data: Buffer, chop: number): Promise<void> {
    for (let off = 0; off < data.length; off += chop) {
      if (this.state === 'closed') return;
      this.write(data.subarray(off, off + chop));
      await yieldTurn();
    }
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

  /** Autobahn `sendClose`: start the closing handshake (only when open). */
  sendClose(code?: number, reason?: Bytes): void {
    if (this.state !== 'open') return;
    this.sendCloseFrame(closePayload(code, reason), false);
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

  private pushEvent(ev: ReceivedEvent): void {
    this.received.push(ev);
    if (this.onEvent) this.onEvent(ev);
  }

  private protocolViolation(reason: string): void {
    this.log(`PROTOCOL VIOLATION by server: ${reason}`);
    if (!this.violation) this.violation = reason;
    // Autobahn: _fail_connection(1002) -> close frame if open, else drop.
    this.failConnection(1002, 'protocol violation');
  }

  private onBytes(chunk: Buffer): void {
    let frames: ParsedFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.protocolViolation(e instanceof FramingError ? e.message : String(e));
      this.drop('unframeable data');
      return;
    }
    if (this.pmd) {
      for (const f of frames) this.rxChain = this.rxChain.then(() => this.onFrame(f));
      return;
    }
    for (const f of frames) {
      if (this.state === 'closed') return;
      this.onFrame(f);
    }
  }

  private onFrame(f: ParsedFrame): void | Promise<void> {
    this.log(`RX frame op=${f.opcode} fin=${f.fin ? 1 : 0} rsv=${f.rsv}${f.masked ? ' MASKED' : ''} payload=${describePayload(f.payload, 24)}`);
    if (this.serverSentClose) {
      this.log('(frame after server close frame ignored)');
      return;
    }
    if (f.masked) return this.protocolViolation('server sent a masked frame');
    if (this.pmd && f.rsv === 4) {
      // RFC 7692 6.1: RSV1 marks the first frame of a compressed message only.
      if (f.opcode >= 8) return this.protocolViolation('server sent a control frame with RSV1 set (RFC 7692 6.1)');
      if (f.opcode === Opcode.CONTINUATION) return this.protocolViolation('server sent a continuation frame with RSV1 set (RFC 7692 6.1)');
    } else if (f.rsv !== 0)
      return this.protocolViolation(`server sent a frame with RSV bits ${f.rsv} (${this.pmd ? 'only RSV1 is defined by permessage-deflate' : 'no extension negotiated'})`);
    if (f.nonMinimalLength) return this.protocolViolation('server used a non-minimal payload length encoding');
    if (f.opcode >= 8) {
      if (!f.fin) return this.protocolViolation('server sent a fragmented control frame');
      if (f.payload.length > 125) return this.protocolViolation('server sent a control frame with payload > 125 bytes');
      switch (f.opcode) {
        case Opcode.CLOSE:
          return this.onCloseFrame(f.payload);
        case Opcode.PING:
          this.pushEvent({ kind: 'ping', payload: f.payload });
          if (this.state === 'open') this.write(buildFrame({ opcode: Opcode.PONG, payload: f.payload }));
          return;
        case Opcode.PONG:
          this.pushEvent({ kind: 'pong', payload: f.payload });
          return;
        default:
          return this.protocolViolation(`server sent reserved control opcode ${f.opcode}`);
      }
    }
    if (f.opcode === Opcode.CONTINUATION) {
      if (this.fragOpcode < 0) return this.protocolViolation('server sent a continuation frame with no message to continue');
      this.fragParts.push(f.payload);
    } else if (f.opcode === Opcode.TEXT || f.opcode === Opcode.BINARY) {
      if (this.fragOpcode >= 0) return this.protocolViolation('server started a new data message inside a fragmented message');
      this.fragOpcode = f.opcode;
      this.fragParts = [f.payload];
      this.fragCompressed = f.rsv === 4;
    } else return this.protocolViolation(`server sent reserved data opcode ${f.opcode}`);
    if (!f.fin) return;
    const raw = this.fragParts.length === 1 ? this.fragParts[0] : Buffer.concat(this.fragParts);
    const binary = this.fragOpcode === Opcode.BINARY;
    this.fragOpcode = -1;
    this.fragParts = [];
    const deliver = (payload: Buffer): void => {
      if (!binary && !isValidUtf8(payload)) return this.protocolViolation('server sent a text message that is not valid UTF-8');
      this.pushEvent({ kind: 'message', binary, payload });
    };
    const pmd = this.pmd;
    if (!pmd) return deliver(raw);
    if (!this.fragCompressed) {
      pmd.plainIn++;
      return deliver(raw);
    }
    pmd.compressedIn++;
    return pmd.inflater.decompress(raw).then(
      (payload) => {
        this.log(`RX compressed message ${raw.length} -> ${payload.length} bytes`);
        deliver(payload);
      },
      (e: Error) =>
        this.protocolViolation(
          `server sent compressed data that does not inflate with the agreed parameters (${pmd.agreed || 'defaults'}): ${e.message} (RFC 7692 7.2.2${pmd.params.serverNoContextTakeover ? ', 7.1.1.1: server_no_context_takeover' : ''})`,
        ),
    );
  }

  private onCloseFrame(payload: Buffer): void {
    this.serverSentClose = true;
    this.remoteCloseCode = null;
    this.remoteCloseReason = null;
    if (payload.length === 1) return this.protocolViolation('server sent a close frame with a 1-byte payload');
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0);
      this.remoteCloseCode = code; // recorded even if invalid, for the report
      if (!isValidCloseCode(code)) return this.protocolViolation(`server sent close frame with invalid close code ${code}`);
      const reason = payload.subarray(2);
      if (!isValidUtf8(reason)) return this.protocolViolation('server sent a close reason that is not valid UTF-8');
      this.remoteCloseReason = reason.toString('utf8');
    }
    this.log(`RX close code=${this.remoteCloseCode ?? '(none)'} reason=${JSON.stringify(this.remoteCloseReason ?? '')}`);
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
