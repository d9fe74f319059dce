/**
 * A byte stream for virtual time: the part of the `Duplex` interface that
 * `StreamTransport` uses, with every delivery scheduled on an RxJS scheduler
 * (a `TestScheduler` in marble tests), so that a whole connection, bytes
 * through the real parser and writer included, runs inside `TestScheduler.run`.
 *
 * Node streams defer events with `process.nextTick`, which virtual time
 * cannot flush; this stream has no such hop.
 */
import { EventEmitter } from 'node:events';
import type { SchedulerLike } from 'rxjs';

/** Writes past this many unconsumed bytes return false and earn a 'drain' (Node's default highWaterMark). */
const WRITE_HIGH_WATER_MARK = 16 * 1024;

/** One end of a virtual byte pipe. See the module comment. */
export class VirtualStream extends EventEmitter {
  /** Whether `destroy()` was called. */
  destroyed = false;
  /** Whether `end()` (or `destroy()`) was called. */
  writableEnded = false;
  /** The other end. */
  peer!: VirtualStream;
  private readonly scheduler: SchedulerLike;
  private readonly latency: number;
  private flowing = false;
  private inbox: Buffer[] = [];
  private eof = false;
  private readEnded = false;
  private outstanding = 0;
  private needDrain = false;
  /** When set, bytes that arrive are discarded unread (a silent peer). */
  blackhole = false;

  constructor(scheduler: SchedulerLike, latency: number) {
    super();
    this.scheduler = scheduler;
    this.latency = latency;
  }

  /** Bytes written and not yet read by the peer. */
  get writableLength(): number {
    return this.outstanding;
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed || this.writableEnded) return false;
    this.outstanding += chunk.length;
    this.scheduler.schedule(() => this.peer.arrive(chunk, this), this.latency);
    if (this.outstanding >= WRITE_HIGH_WATER_MARK) this.needDrain = true;
    return !this.needDrain;
  }

  cork(): void {}
  uncork(): void {}

  end(): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    this.scheduler.schedule(() => this.peer.arriveEof(), this.latency);
    this.maybeClose();
    return this;
  }

  pause(): this {
    this.flowing = false;
    return this;
  }

  resume(): this {
    this.flowing = true;
    this.pump();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    for (const chunk of this.inbox) this.peer.consumed(chunk.length);
    this.inbox = [];
    if (!this.writableEnded) {
      this.writableEnded = true;
      this.scheduler.schedule(() => this.peer.arriveEof(), this.latency);
    }
    this.scheduler.schedule(() => this.emit('close'));
    return this;
  }

  private arrive(chunk: Buffer, from: VirtualStream): void {
    if (this.destroyed || this.blackhole) {
      from.consumed(chunk.length);
      return;
    }
    this.inbox.push(chunk);
    this.pump();
  }

  private arriveEof(): void {
    this.eof = true;
    this.pump();
  }

  private pump(): void {
    while (this.flowing && !this.destroyed && this.inbox.length > 0) {
      const chunk = this.inbox.shift()!;
      this.peer.consumed(chunk.length);
      this.emit('data', chunk);
    }
    if (this.flowing && !this.destroyed && this.eof && this.inbox.length === 0 && !this.readEnded) {
      this.readEnded = true;
      this.emit('end');
      this.maybeClose();
    }
  }

  private consumed(n: number): void {
    this.outstanding -= n;
    if (this.needDrain && this.outstanding === 0 && !this.destroyed) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  /** Both directions finished: the stream closes (Node's autoDestroy). */
  private maybeClose(): void {
    if (this.readEnded && this.writableEnded) this.destroy();
  }
}

/** Two connected virtual streams. */
export function virtualStreamPair(scheduler: SchedulerLike, latency = 0): [VirtualStream, VirtualStream] {
  const a = new VirtualStream(scheduler, latency);
  const b = new VirtualStream(scheduler, latency);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
