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
import { Opcode, buildFrame, closePayload, describePayload, toBuffer, FrameSpec } from './frames';
import type { CaseSession } from './cases';
import { PeerSession, yieldTurn } from './peer-session';

/** Autobahn's server-side protocol timeouts (ms). */
export interface ServerSessionTimeouts {
  /** Time allowed for the client to answer our close frame. */
  closeHandshakeMs: number;
}

/** Defaults (Autobahn: 1 s). */
export const DEFAULT_SERVER_TIMEOUTS: ServerSessionTimeouts = { closeHandshakeMs: 1000 };

const MAX_WIRELOG = 200;

/** One accepted (already upgraded) connection, driven by a case. */
export class FuzzingServerSession extends PeerSession implements CaseSession {
  readonly masksFrames = false;
  state: 'open' | 'closing' | 'closed' = 'open';
  /** We closed TCP ourselves before the client did (the normal case for a server). */
  droppedByMe = false;
  /** The client's FIN or RST arrived before we closed TCP. */
  clientClosedTcpFirst = false;
  /** ...and that happened before the closing handshake was complete. */
  clientClosedTcpEarly = false;
  /** The client reset the connection (ECONNRESET). */
  clientReset = false;
  clientSentClose = false;
  /** Bytes the client sent that are not frames of an open connection (handshake-failure cases). */
  bytesAfterHandshake = 0;
  /** When set, delay our TCP close after a completed closing handshake by this many ms (7.15.x). */
  tcpCloseDelayMs = 0;
  /** Why no permessage-deflate was agreed (deflate cases). */
  pmdDeclined: string | null = null;

  private tcpClosedByUs = false;

  constructor(
    private readonly socket: net.Socket,
    readonly timeouts: ServerSessionTimeouts = DEFAULT_SERVER_TIMEOUTS,
  ) {
    super('client', MAX_WIRELOG);
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
    socket.on('close', () => this.tcpClosed(this.clientClosedTcpFirst ? 'TCP closed (client closed first)' : 'TCP closed (we closed first)'));
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

  // --- sending --------------------------------------------------------------

  write(data: Buffer): void {
    const s = this.socket;
    if (this.state === 'closed' || s.destroyed || s.writableEnded) return;
    s.write(data, () => undefined);
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

  protected peerSentClose(): boolean {
    return this.clientSentClose;
  }

  protected abortUnframeable(): void {
    this.closeTcp('unframeable data', false);
  }

  protected onCloseFrame(payload: Buffer): void {
    this.clientSentClose = true;
    if (!this.parseClose(payload)) return;
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
