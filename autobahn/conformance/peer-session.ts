/**
 * What both ends of the suite share (`ClientSession` in the server role,
 * `FuzzingServerSession` in the client role): the wire log, timers, chopped
 * writes, and the validation of everything the peer under test sends
 * (masking, RSV bits, opcodes, control-frame rules, fragmentation, UTF-8 of
 * text messages and close reasons, close codes, permessage-deflate). The
 * first violation is recorded and the connection is failed (close 1002, or
 * drop if already closing), as Autobahn does.
 *
 * @packageDocumentation
 */

import { FrameParser, FramingError, Opcode, ParsedFrame, buildFrame, closePayload, describePayload, isValidCloseCode, isValidUtf8, Bytes } from './frames';
import { PmdState, disposePmdState } from './pmd';
import type { ReceivedEvent } from './session';

/** Let the event loop turn (between chopped writes). */
export function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export abstract class PeerSession {
  abstract state: 'connecting' | 'open' | 'closing' | 'closed';
  /** True if frames this side sends are masked (client side); the peer must then send unmasked frames, and vice versa. */
  abstract readonly masksFrames: boolean;
  /** Events in arrival order (messages, pings, pongs, timeout markers). */
  readonly received: ReceivedEvent[] = [];
  /** We sent the first close frame (including when *we* failed the connection). */
  closedByMe = false;
  failedByMe = false;
  wasClean = false;
  wasNotCleanReason: string | null = null;
  /** Did we send a close frame? */
  closeFrameSent = false;
  /** Close code from the peer's close frame (null: none / empty close). */
  remoteCloseCode: number | null = null;
  remoteCloseReason: string | null = null;
  /** First protocol violation committed by the peer, if any. */
  violation: string | null = null;
  /** Bounded human-readable wire log. */
  readonly wirelog: string[] = [];
  /** Called after each received event (used for Autobahn's `finishWhenDone`). */
  onEvent: ((ev: ReceivedEvent) => void) | null = null;
  /** Called when the TCP connection is gone. */
  readonly lost: Promise<void>;
  /** permessage-deflate state when negotiated (null: not negotiated). Set before any data arrives. */
  pmd: PmdState | null = null;

  protected readonly timers = new Set<NodeJS.Timeout>();
  protected closeHandshakeTimer: NodeJS.Timeout | null = null;
  private resolveLost!: () => void;
  /** With permessage-deflate, frames are handled in order through this chain (inflating is asynchronous). */
  private rxChain: Promise<void> = Promise.resolve();
  private readonly parser = new FrameParser();
  private fragOpcode = -1;
  private fragParts: Buffer[] = [];
  private fragCompressed = false;
  private readonly t0 = Date.now();

  /**
   * @param peer the endpoint under test, as named in violations and logs
   * @param maxWirelog wire log lines kept
   */
  constructor(
    private readonly peer: 'server' | 'client',
    private readonly maxWirelog: number,
  ) {
    this.lost = new Promise((r) => (this.resolveLost = r));
  }

  /** Write raw bytes now (no-op once TCP is gone). */
  abstract write(data: Buffer): void;
  /** Autobahn `sendCloseFrame`. */
  abstract sendCloseFrame(payload: Buffer, isReply: boolean): void;
  /** Autobahn `failConnection` (failByDrop = False). */
  abstract failConnection(code?: number, reason?: string): void;
  /** Has the peer sent its close frame? (frames after it are ignored) */
  protected abstract peerSentClose(): boolean;
  /** The peer's close frame, after {@link parseClose}. */
  protected abstract onCloseFrame(payload: Buffer): void;
  /** Close TCP at once after unframeable data. */
  protected abstract abortUnframeable(): void;

  /** Append to the wire log (bounded). */
  log(msg: string): void {
    if (this.wirelog.length < this.maxWirelog) this.wirelog.push(`${String(Date.now() - this.t0).padStart(5)}ms ${msg}`);
    else if (this.wirelog.length === this.maxWirelog) this.wirelog.push('... (wire log truncated)');
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

  /** Write bytes in chops of `chop` bytes, yielding to the event loop between chops. */
  async writeChopped(data: Buffer, chop: number): Promise<void> {
    for (let off = 0; off < data.length; off += chop) {
      if (this.state === 'closed') return;
      this.write(data.subarray(off, off + chop));
      await yieldTurn();
    }
  }

  /** Autobahn `sendClose`: start the closing handshake (only when open). */
  sendClose(code?: number, reason?: Bytes): void {
    if (this.state !== 'open') return;
    this.sendCloseFrame(closePayload(code, reason), false);
  }

  /** TCP is gone: cancel timers; resolve `lost` once messages still being inflated are recorded. */
  protected tcpClosed(msg: string): void {
    this.state = 'closed';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.closeHandshakeTimer) clearTimeout(this.closeHandshakeTimer);
    this.log(msg);
    // Messages still being inflated are recorded before the case is graded.
    void this.rxChain.then(() => {
      disposePmdState(this.pmd);
      this.resolveLost();
    });
  }

  // --- receiving ------------------------------------------------------------

  private pushEvent(ev: ReceivedEvent): void {
    this.received.push(ev);
    if (this.onEvent) this.onEvent(ev);
  }

  protected protocolViolation(reason: string): void {
    this.log(`PROTOCOL VIOLATION by ${this.peer}: ${reason}`);
    if (!this.violation) this.violation = reason;
    // Autobahn: _fail_connection(1002) -> close frame if open, else drop.
    this.failConnection(1002, 'protocol violation');
  }

  protected onBytes(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let frames: ParsedFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.protocolViolation(e instanceof FramingError ? e.message : String(e));
      this.abortUnframeable();
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
    const peer = this.peer;
    const maskNote = this.masksFrames ? (f.masked ? ' MASKED' : '') : f.masked ? '' : ' UNMASKED';
    this.log(`RX frame op=${f.opcode} fin=${f.fin ? 1 : 0} rsv=${f.rsv}${maskNote} payload=${describePayload(f.payload, 24)}`);
    if (this.peerSentClose()) {
      this.log(`(frame after ${peer} close frame ignored)`);
      return;
    }
    if (this.masksFrames && f.masked) return this.protocolViolation('server sent a masked frame');
    if (!this.masksFrames && !f.masked) return this.protocolViolation('client sent an unmasked frame (RFC 6455 5.1)');
    if (this.pmd && f.rsv === 4) {
      // RFC 7692 6.1: RSV1 marks the first frame of a compressed message only.
      if (f.opcode >= 8) return this.protocolViolation(`${peer} sent a control frame with RSV1 set (RFC 7692 6.1)`);
      if (f.opcode === Opcode.CONTINUATION) return this.protocolViolation(`${peer} sent a continuation frame with RSV1 set (RFC 7692 6.1)`);
    } else if (f.rsv !== 0)
      return this.protocolViolation(`${peer} sent a frame with RSV bits ${f.rsv} (${this.pmd ? 'only RSV1 is defined by permessage-deflate' : 'no extension negotiated'})`);
    if (f.nonMinimalLength) return this.protocolViolation(`${peer} used a non-minimal payload length encoding`);
    if (f.opcode >= 8) {
      if (!f.fin) return this.protocolViolation(`${peer} sent a fragmented control frame`);
      if (f.payload.length > 125) return this.protocolViolation(`${peer} sent a control frame with payload > 125 bytes`);
      switch (f.opcode) {
        case Opcode.CLOSE:
          return this.onCloseFrame(f.payload);
        case Opcode.PING:
          this.pushEvent({ kind: 'ping', payload: f.payload });
          if (this.state === 'open') this.write(buildFrame({ opcode: Opcode.PONG, payload: f.payload, mask: this.masksFrames }));
          return;
        case Opcode.PONG:
          this.pushEvent({ kind: 'pong', payload: f.payload });
          return;
        default:
          return this.protocolViolation(`${peer} sent reserved control opcode ${f.opcode}`);
      }
    }
    if (f.opcode === Opcode.CONTINUATION) {
      if (this.fragOpcode < 0) return this.protocolViolation(`${peer} sent a continuation frame with no message to continue`);
      this.fragParts.push(f.payload);
    } else if (f.opcode === Opcode.TEXT || f.opcode === Opcode.BINARY) {
      if (this.fragOpcode >= 0) return this.protocolViolation(`${peer} started a new data message inside a fragmented message`);
      this.fragOpcode = f.opcode;
      this.fragParts = [f.payload];
      this.fragCompressed = f.rsv === 4;
    } else return this.protocolViolation(`${peer} sent reserved data opcode ${f.opcode}`);
    if (!f.fin) return;
    const raw = this.fragParts.length === 1 ? this.fragParts[0] : Buffer.concat(this.fragParts);
    const binary = this.fragOpcode === Opcode.BINARY;
    this.fragOpcode = -1;
    this.fragParts = [];
    const deliver = (payload: Buffer): void => {
      if (!binary && !isValidUtf8(payload)) return this.protocolViolation(`${peer} sent a text message that is not valid UTF-8`);
      this.pushEvent({ kind: 'message', binary, payload });
    };
    const pmd = this.pmd;
    if (!pmd) return deliver(raw);
    if (!this.fragCompressed) {
      pmd.plainIn++;
      return deliver(raw);
    }
    pmd.compressedIn++;
    const noTakeover =
      peer === 'server'
        ? pmd.params.serverNoContextTakeover
          ? ', 7.1.1.1: server_no_context_takeover'
          : ''
        : pmd.params.clientNoContextTakeover
          ? ', 7.1.1.2: client_no_context_takeover'
          : '';
    return pmd.inflater.decompress(raw).then(
      (payload) => {
        this.log(`RX compressed message ${raw.length} -> ${payload.length} bytes`);
        deliver(payload);
      },
      (e: Error) =>
        this.protocolViolation(
          `${peer} sent compressed data that does not inflate with the agreed parameters (${pmd.agreed || 'defaults'}): ${e.message} (RFC 7692 7.2.2${noTakeover})`,
        ),
    );
  }

  /**
   * Check and record the peer's close payload (`remoteCloseCode` is recorded
   * even if invalid, for the report). Returns false after a protocol violation.
   */
  protected parseClose(payload: Buffer): boolean {
    const peer = this.peer;
    this.remoteCloseCode = null;
    this.remoteCloseReason = null;
    if (payload.length === 1) {
      this.protocolViolation(`${peer} sent a close frame with a 1-byte payload`);
      return false;
    }
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0);
      this.remoteCloseCode = code;
      if (!isValidCloseCode(code)) {
        this.protocolViolation(`${peer} sent close frame with invalid close code ${code}`);
        return false;
      }
      const reason = payload.subarray(2);
      if (!isValidUtf8(reason)) {
        this.protocolViolation(`${peer} sent a close reason that is not valid UTF-8`);
        return false;
      }
      this.remoteCloseReason = reason.toString('utf8');
    }
    this.log(`RX close code=${this.remoteCloseCode ?? '(none)'} reason=${JSON.stringify(this.remoteCloseReason ?? '')}`);
    return true;
  }
}
