/**
 * The fuzzing server's side of one connection (client role of the suite).
 *
 * Mirror image of `session.ts`: it reproduces the bookkeeping of Autobahn's
 * fuzzingserver (autobahn-python `WebSocketServerProtocol`, `failByDrop =
 * False`), so `closedByMe`, `wasClean` and `remoteCloseCode` mean what they
 * mean there, and it validates everything the *client* under test sends
 * (every frame masked, RSV = 0, no reserved opcodes, control-frame rules,
 * fragmentation, UTF-8 of text messages and close reasons, close codes).
 *
 * As a server it closes TCP itself right after the closing handshake (RFC 6455
 * §7.1.1), and it records who closed TCP first: `clientClosedTcpFirst` is set
 * when the client's FIN/RST arrived before we closed.
 *
 * @packageDocumentation
 */

import * as net from 'node:net';
import { FrameParser, FramingError, Opcode, ParsedFrame, buildFrame, closePayload, describePayload, isValidCloseCode, isValidUtf8, toBuffer, Bytes, FrameSpec } from './frames';
import type { ReceivedEvent } from './session';
import type { CaseSession } from './cases';
import { PmdState, disposePmdState } from './pmd';

/** Autobahn's server-side protocol timeouts (ms). */
export interface ServerSessionTimeouts {
  /** Time allowed for the client to answer our close frame. */
  closeHandshakeMs: number;
}

/** Defaults (Autobahn: 1 s). */
export const DEFAULT_SERVER_TIMEOUTS: ServerSessionTimeouts = { closeHandshakeMs: 1000 };

const MAX_WIRELOG = 200;

function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** One accepted (already upgraded) connection, driven by a case. */
export class FuzzingServerSession implements CaseSession {
  readonly masksFrames = false;
  state: 'open' | 'closing' | 'closed' = 'open';
  readonly received: ReceivedEvent[] = [];
  /** We sent the first close frame (including when *we* failed the connection). */
  closedByMe = false;
  failedByMe = false;
  /** We closed TCP ourselves before the client did (the normal case for a server). */
  droppedByMe = false;
  /** The client's FIN or RST arrived before we closed TCP. */
  clientClosedTcpFirst = false;
  /** ...and that happened before the closing handshake was complete. */
  clientClosedTcpEarly = false;
  /** The client reset the connection (ECONNRESET). */
  clientReset = false;
  wasClean = false;
  wasNotCleanReason: string | null = null;
  closeFrameSent = false;
  clientSentClose = false;
  remoteCloseCode: number | null = null;
  remoteCloseReason: string | null = null;
  violation: string | null = null;
  /** Bytes the client sent that are not frames of an open connection (handshake-failure cases). */
  bytesAfterHandshake = 0;
  readonly wirelog: string[] = [];
  onEvent: ((ev: ReceivedEvent) => void) | null = null;
  readonly lost: Promise<void>;
  /** When set, delay our TCP close after a completed closing handshake by this many ms (7.15.x). */
  tcpCloseDelayMs = 0;
  /** permessage-deflate state when we accepted the client's offer (null: not negotiated). Set before any data arrives. */
  pmd: PmdState | null = null;
  /** Why no permessage-deflate was agreed (deflate cases). */
  pmdDeclined: string | null = null;
  /** With permessage-deflate, frames are handled in order through this chain (inflating is asynchronous). */
  private rxChain: Promise<void> = Promise.resolve();
  private fragCompressed = false;

  private resolveLost!: () => void;
  private readonly parser = new FrameParser();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closeHandshakeTimer: NodeJS.Timeout | null = null;
  private fragOpcode = -1;
  private fragParts: Buffer[] = [];
  private readonly t0 = Date.now();
  private tcpClosedByUs = false;

  constructor(
    private readonly socket: net.Socket,
    readonly timeouts: ServerSessionTimeouts = DEFAULT_SERVER_TIMEOUTS,
  ) {
    this.lost = new Promise((r) => (this.resolveLost = r));
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => {
      this.log('RX FIN (client closed TCP)');
      this.noteClientTcpClose();
      // Answer the client's FIN with ours (we are half-open otherwise).
      if (!this.tcpClosedByUs) this.closeTcp('client closed TCP', true);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.log(`socket error ${e.code ?? e.message}`);
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
        this.clientReset = true;
        this.noteClientTcpClose();
      }
    });
    socket.on('close', () => {
      this.state = 'closed';
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      if (this.closeHandshakeTimer) clearTimeout(this.closeHandshakeTimer);
      this.log(this.clientClosedTcpFirst ? 'TCP closed (client closed first)' : 'TCP closed (we closed first)');
      // Messages still being inflated are recorded before the case is graded.
      void this.rxChain.then(() => {
        disposePmdState(this.pmd);
        this.resolveLost();
      });
    });
  }

  private noteClientTcpClose(): void {
    if (this.tcpClosedByUs || this.clientClosedTcpFirst) return;
    this.clientClosedTcpFirst = true;
    if (!(this.closeFrameSent && this.clientSentClose)) {
      this.clientClosedTcpEarly = true;
      this.wasClean = false;
      this.wasNotCleanReason ??= 'the client closed TCP before the closing handshake was complete';
    }
  }

  log(msg: string): void {
    if (this.wirelog.length < MAX_WIRELOG) this.wirelog.push(`${String(Date.now() - this.t0).padStart(5)}ms ${msg}`);
    else if (this.wirelog.length === MAX_WIRELOG) this.wirelog.push('... (wire log truncated)');
  }

  schedule(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.state !== 'closed') fn();
    }, ms);
    this.timers.add(t);
  }

  recordTimeout(tag: string): void {
    this.pushEvent({ kind: 'timeout', tag });
  }

  // --- sending --------------------------------------------------------------

  write(data: Buffer): void {
    const s = this.socket;
    if (this.state === 'closed' || s.destroyed || s.writableEnded) return;
    s.write(data, () => undefined);
  }

  async writeChopped(data: Buffer, chop: number): Promise<void> {
    for (let off = 0; off < data.length; off += chop) {
      if (this.state === 'closed') return;
      this.write(data.subarray(off, off + chop));
      await yieldTurn();
    }
  }

  /** Autobahn `sendFrame`; server frames are unmasked unless `spec.mask` says otherwise. */
  async sendFrame(spec: FrameSpec, opts: { chop?: number; sync?: boolean } = {}): Promise<void> {
    if (this.state === 'closed') return;
    const f = buildFrame({ ...spec, mask: spec.mask ?? false });
    this.log(
      `TX frame op=${spec.opcode} fin=${spec.fin !== false ? 1 : 0} rsv=${spec.rsv ?? 0}${spec.mask ? ' MASKED' : ''} len=${f.length} payload=${describePayload(toBuffer(spec.payload), 24)}${opts.chop ? ` chop=${opts.chop}` : ''}${opts.sync ? ' sync' : ''}`,
    );
    if (opts.chop && opts.chop > 0) await this.writeChopped(f, opts.chop);
    else {
      this.write(f);
      if (opts.sync) await yieldTurn();
    }
  }

  sendCloseFrame(payload: Buffer, isReply: boolean): void {
    if (this.state !== 'open') {
      this.log(`(close frame suppressed in state ${this.state})`);
      return;
    }
    this.log(`TX close ${payload.length >= 2 ? payload.readUInt16BE(0) : '(no code)'}${isReply ? ' (reply)' : ''} payload=${describePayload(payload, 24)}`);
    this.write(buildFrame({ opcode: Opcode.CLOSE, payload, mask: false }));
    this.closeFrameSent = true;
    this.state = 'closing';
    this.closedByMe = !isReply;
    if (this.closedByMe) {
      this.closeHandshakeTimer = setTimeout(() => {
        this.closeHandshakeTimer = null;
        if (this.state === 'closed' || this.clientSentClose) return;
        this.wasClean = false;
        this.wasNotCleanReason = 'client did not respond (in time) in closing handshake';
        this.closeTcp('close handshake timeout', false);
      }, this.timeouts.closeHandshakeMs);
    }
  }

  sendClose(code?: number, reason?: Bytes): void {
    if (this.state !== 'open') return;
    this.sendCloseFrame(closePayload(code, reason), false);
  }

  /** Autobahn `failConnection` (failByDrop = False). */
  failConnection(code = 1001, reason = 'Going Away'): void {
    if (this.state === 'closed') return;
    this.failedByMe = true;
    if (this.state === 'open') this.sendCloseFrame(closePayload(code, reason), false);
    else {
      this.wasClean = false;
      this.wasNotCleanReason ??= 'I failed the WebSocket connection by dropping the TCP connection';
      this.closeTcp('fail connection', false);
    }
  }

  /**
   * Close TCP from our side. `graceful` sends FIN after pending data (what a
   * server does after the closing handshake); otherwise the socket is destroyed.
   */
  closeTcp(why: string, graceful: boolean): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (!this.tcpClosedByUs) {
      this.tcpClosedByUs = true;
      if (!this.clientClosedTcpFirst) this.droppedByMe = true;
      this.log(`closing TCP (${graceful ? 'FIN' : 'destroy'}): ${why}`);
    }
    if (graceful) {
      s.end();
      // Do not wait forever for the client's FIN.
      this.schedule(2000, () => s.destroy());
    } else s.destroy();
  }

  /** RFC 6455 §7.1.1: the server closes TCP right after the closing handshake. */
  private afterCloseHandshake(): void {
    if (this.tcpCloseDelayMs > 0) {
      this.log(`holding TCP open for ${this.tcpCloseDelayMs} ms after the closing handshake`);
      this.schedule(this.tcpCloseDelayMs, () => this.closeTcp('closing handshake complete (delayed)', true));
    } else this.closeTcp('closing handshake complete', true);
  }

  // --- receiving ------------------------------------------------------------

  private pushEvent(ev: ReceivedEvent): void {
    this.received.push(ev);
    if (this.onEvent) this.onEvent(ev);
  }

  private protocolViolation(reason: string): void {
    this.log(`PROTOCOL VIOLATION by client: ${reason}`);
    if (!this.violation) this.violation = reason;
    this.failConnection(1002, 'protocol violation');
  }

  private onBytes(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let frames: ParsedFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.protocolViolation(e instanceof FramingError ? e.message : String(e));
      this.closeTcp('unframeable data', false);
      return;
    }
    if (this.pmd) {
      for (const f of frames) this.rxChain = this.rxChain.then(() => this.onFrame(f));
      return;
    }
    for (const f of frames) {
      if ((this.state as string) === 'closed') return;
      this.onFrame(f);
    }
  }

  private onFrame(f: ParsedFrame): void | Promise<void> {
    this.log(`RX frame op=${f.opcode} fin=${f.fin ? 1 : 0} rsv=${f.rsv}${f.masked ? '' : ' UNMASKED'} payload=${describePayload(f.payload, 24)}`);
    if (this.clientSentClose) {
      this.log('(frame after client close frame ignored)');
      return;
    }
    if (!f.masked) return this.protocolViolation('client sent an unmasked frame (RFC 6455 5.1)');
    if (this.pmd && f.rsv === 4) {
      // RFC 7692 6.1: RSV1 marks the first frame of a compressed message only.
      if (f.opcode >= 8) return this.protocolViolation('client sent a control frame with RSV1 set (RFC 7692 6.1)');
      if (f.opcode === Opcode.CONTINUATION) return this.protocolViolation('client sent a continuation frame with RSV1 set (RFC 7692 6.1)');
    } else if (f.rsv !== 0)
      return this.protocolViolation(`client sent a frame with RSV bits ${f.rsv} (${this.pmd ? 'only RSV1 is defined by permessage-deflate' : 'no extension negotiated'})`);
    if (f.nonMinimalLength) return this.protocolViolation('client used a non-minimal payload length encoding');
    if (f.opcode >= 8) {
      if (!f.fin) return this.protocolViolation('client sent a fragmented control frame');
      if (f.payload.length > 125) return this.protocolViolation('client sent a control frame with payload > 125 bytes');
      switch (f.opcode) {
        case Opcode.CLOSE:
          return this.onCloseFrame(f.payload);
        case Opcode.PING:
          this.pushEvent({ kind: 'ping', payload: f.payload });
          if (this.state === 'open') this.write(buildFrame({ opcode: Opcode.PONG, payload: f.payload, mask: false }));
          return;
        case Opcode.PONG:
          this.pushEvent({ kind: 'pong', payload: f.payload });
          return;
        default:
          return this.protocolViolation(`client sent reserved control opcode ${f.opcode}`);
      }
    }
    if (f.opcode === Opcode.CONTINUATION) {
      if (this.fragOpcode < 0) return this.protocolViolation('client sent a continuation frame with no message to continue');
      this.fragParts.push(f.payload);
    } else if (f.opcode === Opcode.TEXT || f.opcode === Opcode.BINARY) {
      if (this.fragOpcode >= 0) return this.protocolViolation('client started a new data message inside a fragmented message');
      this.fragOpcode = f.opcode;
      this.fragParts = [f.payload];
      this.fragCompressed = f.rsv === 4;
    } else return this.protocolViolation(`client sent reserved data opcode ${f.opcode}`);
    if (!f.fin) return;
    const raw = this.fragParts.length === 1 ? this.fragParts[0] : Buffer.concat(this.fragParts);
    const binary = this.fragOpcode === Opcode.BINARY;
    this.fragOpcode = -1;
    this.fragParts = [];
    const deliver = (payload: Buffer): void => {
      if (!binary && !isValidUtf8(payload)) return this.protocolViolation('client sent a text message that is not valid UTF-8');
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
          `client sent compressed data that does not inflate with the agreed parameters (${pmd.agreed || 'defaults'}): ${e.message} (RFC 7692 7.2.2${pmd.params.clientNoContextTakeover ? ', 7.1.1.2: client_no_context_takeover' : ''})`,
        ),
    );
  }

  private onCloseFrame(payload: Buffer): void {
    this.clientSentClose = true;
    this.remoteCloseCode = null;
    this.remoteCloseReason = null;
    if (payload.length === 1) return this.protocolViolation('client sent a close frame with a 1-byte payload');
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0);
      this.remoteCloseCode = code;
      if (!isValidCloseCode(code)) return this.protocolViolation(`client sent close frame with invalid close code ${code}`);
      const reason = payload.subarray(2);
      if (!isValidUtf8(reason)) return this.protocolViolation('client sent a close reason that is not valid UTF-8');
      this.remoteCloseReason = reason.toString('utf8');
    }
    this.log(`RX close code=${this.remoteCloseCode ?? '(none)'} reason=${JSON.stringify(this.remoteCloseReason ?? '')}`);
    if (this.state === 'closing') {
      // The client answered our close frame.
      if (this.closeHandshakeTimer) clearTimeout(this.closeHandshakeTimer);
      this.closeHandshakeTimer = null;
      if (!this.clientClosedTcpEarly) this.wasClean = true;
      this.afterCloseHandshake();
    } else if (this.state === 'open') {
      // Client-initiated close: reply with 1000 (Autobahn, echoCloseCodeReason = False), then close TCP.
      if (!this.clientClosedTcpEarly) this.wasClean = true;
      this.sendCloseFrame(closePayload(1000), true);
      this.afterCloseHandshake();
    }
  }
}
