/**
 * `reconnecting(url, options)`: a client handle that outlives its
 * connections. Where the RxJS `webSocket` subject buffers without bound
 * before open and drops `next` while reconnecting, this keeps a bounded
 * outbox with a visible overflow policy and replays what the server must
 * hear again (`onOpen`) before the outbox.
 */
import { BehaviorSubject, defer, EMPTY, Observable, Observer, Subject, Subscription } from '../rx';
import { connect, ClientOptions } from '../client';
import type { Connection, WebSocketData } from '../connection';
import { CloseCode } from '../protocol/close-codes';
import { WebSocketError } from '../protocol/errors';
import { OutboxOverflowError } from './errors';
import { closed$ } from './internal';
import { defaultShouldRetry, reconnect, ReconnectConfig } from './reconnect';

/** Where a `reconnecting` handle is. */
export type ReconnectingState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What to do with a message when the outbox is full. */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error';

/** A message the outbox let go, on `dropped$`. */
export interface DroppedMessage {
  data: WebSocketData;
  /** `overflow`: the outbox was full; `closed`: the handle closed with it still queued. */
  reason: 'overflow' | 'closed';
}

/** Settings of `reconnecting`: client options, backoff (`reconnect`) and the outbox. */
export interface ReconnectingOptions extends ClientOptions, Omit<ReconnectConfig, 'onRetry'> {
  /** Most messages held while disconnected. Default 1000. */
  outboxLimit?: number;
  /** What a full outbox does with one more message. Default `'drop-oldest'`. */
  overflow?: OverflowPolicy;
  /**
   * Called with each new connection before the outbox is flushed: send what
   * the server must hear again after a reconnect (auth, subscriptions) with
   * `conn.send(...)`.
   */
  onOpen?: (conn: Connection) => void;
  /** How to open a connection. Default `connect`; tests pass another (a `createPair` server, say). */
  connect?: (url: string | URL, options?: ClientOptions) => Observable<Connection>;
}

/** The handle `reconnecting` returns. As an Observer, `next` sends (or queues), `complete` closes. */
export interface ReconnectingSocket extends Observer<WebSocketData> {
  /** Messages of every connection, one stream across reconnections. Completes on `close()`; errors if the handle gives up. */
  readonly messages$: Observable<string | Buffer>;
  /** `connecting`, `open`, `reconnecting`, `closed`; replays the current state. */
  readonly state$: Observable<ReconnectingState>;
  /** Messages the outbox let go. */
  readonly dropped$: Observable<DroppedMessage>;
  /** The current state. */
  readonly state: ReconnectingState;
  /** The open connection, or null. */
  readonly connection: Connection | null;
  /** Messages waiting for a connection. */
  readonly outboxSize: number;
  /** Sends now if open, else queues. Returns true when sent now. */
  send(data: WebSocketData): boolean;
  /** Closes for good (the current connection with `code` and `reason`); queued messages are dropped. */
  close(code?: number, reason?: string): void;
}

/**
 * Opens a self-healing client connection to `url` and returns its handle.
 * It starts connecting at once. While disconnected, sent messages wait in a
 * bounded outbox (`outboxLimit`, `overflow`; every drop shows on
 * `dropped$`); on each (re)connection `onOpen` runs, then the outbox is sent
 * in order, once. Backoff settings are those of `reconnect`.
 *
 * ```ts
 * const ws = reconnecting('ws://127.0.0.1:8080', {
 *   onOpen: conn => conn.send(JSON.stringify({ subscribe: 'prices' })),
 * });
 * ws.state$.subscribe(s => console.log(s));
 * ws.messages$.subscribe(m => console.log(m));
 * ws.next('hello'); // queued until the first connection opens
 * ```
 */
export function reconnecting(url: string | URL, options?: ReconnectingOptions): ReconnectingSocket {
  return new Reconnecting(url, options ?? {});
}

class Reconnecting implements ReconnectingSocket {
  readonly messages$: Observable<string | Buffer>;
  readonly state$: Observable<ReconnectingState>;
  readonly dropped$: Observable<DroppedMessage>;
  private readonly messages = new Subject<string | Buffer>();
  private readonly stateSubject = new BehaviorSubject<ReconnectingState>('connecting');
  private readonly droppedSubject = new Subject<DroppedMessage>();
  private readonly outbox: WebSocketData[] = [];
  private readonly limit: number;
  private readonly policy: OverflowPolicy;
  private readonly onOpen: ((conn: Connection) => void) | undefined;
  private current: Connection | null = null;
  private userClosed = false;
  private readonly pipeline: Subscription;
  private connSubs: Subscription | null = null;

  constructor(url: string | URL, options: ReconnectingOptions) {
    this.messages$ = this.messages.asObservable();
    this.state$ = this.stateSubject.asObservable();
    this.dropped$ = this.droppedSubject.asObservable();
    this.limit = options.outboxLimit ?? 1000;
    this.policy = options.overflow ?? 'drop-oldest';
    this.onOpen = options.onOpen;
    if (!(this.limit >= 0)) throw new RangeError(`outboxLimit must be non-negative, got ${this.limit}`);
    const open = options.connect ?? connect;
    const shouldRetry = options.shouldRetry ?? defaultShouldRetry;
    this.pipeline = defer(() => (this.userClosed ? EMPTY : open(url, options)))
      .pipe(
        reconnect<Connection>({
          ...options,
          shouldRetry: (err) => !this.userClosed && shouldRetry(err),
          onRetry: () => {
            if (!this.userClosed) this.setState('reconnecting');
          },
        }),
      )
      .subscribe({
        next: (conn) => this.opened(conn),
        error: (err) => this.finish(this.userClosed ? null : err),
        complete: () => this.finish(null),
      });
  }

  get state(): ReconnectingState {
    return this.stateSubject.value;
  }

  get connection(): Connection | null {
    return this.current;
  }

  get outboxSize(): number {
    return this.outbox.length;
  }

  send(data: WebSocketData): boolean {
    const conn = this.current;
    if (conn !== null && conn.isOpen && conn.send(data)) return true;
    if (this.state === 'closed') {
      this.droppedSubject.next({ data, reason: 'closed' });
      return false;
    }
    this.enqueue(data);
    return false;
  }

  next(data: WebSocketData): void {
    this.send(data);
  }

  complete(): void {
    this.close();
  }

  error(err: unknown): void {
    const code = err instanceof WebSocketError ? err.closeCode : CloseCode.InternalError;
    this.close(code === 1005 || code === 1006 ? CloseCode.InternalError : code, err instanceof Error ? err.message.slice(0, 100) : '');
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.userClosed || this.state === 'closed') return;
    this.userClosed = true;
    const conn = this.current;
    if (conn !== null && conn.closeInfo === null) {
      // The pipeline ends when this connection does (shouldRetry says no now).
      conn.close(code, reason);
    } else {
      this.pipeline.unsubscribe();
      this.finish(null);
    }
  }

  private enqueue(data: WebSocketData): void {
    const outbox = this.outbox;
    if (outbox.length < this.limit) {
      outbox.push(data);
      return;
    }
    switch (this.policy) {
      case 'drop-oldest':
        if (outbox.length > 0) {
          this.droppedSubject.next({ data: outbox.shift()!, reason: 'overflow' });
          outbox.push(data);
        } else this.droppedSubject.next({ data, reason: 'overflow' });
        break;
      case 'drop-newest':
        this.droppedSubject.next({ data, reason: 'overflow' });
        break;
      case 'error':
        this.droppedSubject.next({ data, reason: 'overflow' });
        this.userClosed = true;
        this.pipeline.unsubscribe();
        this.current?.close(CloseCode.PolicyViolation, 'outbox overflow');
        this.finish(new OutboxOverflowError(this.limit));
        break;
    }
  }

  private opened(conn: Connection): void {
    this.connSubs?.unsubscribe();
    const subs = new Subscription();
    this.connSubs = subs;
    // Subscribe first: messages the server sends on open must not be missed.
    subs.add(conn.messages$.subscribe({ next: (m) => this.messages.next(m), error: () => {} }));
    subs.add(
      closed$(conn).subscribe(() => {
        if (this.current === conn) this.current = null;
        if (!this.userClosed && this.state !== 'closed') this.setState('reconnecting');
      }),
    );
    if (conn.closeInfo !== null) return;
    this.onOpen?.(conn);
    // The outbox goes after what onOpen re-sent, in order, once.
    const outbox = this.outbox;
    while (outbox.length > 0 && conn.isOpen) {
      if (!conn.send(outbox[0])) break;
      outbox.shift();
    }
    if (!conn.isOpen) return;
    this.current = conn;
    this.setState('open');
  }

  private finish(error: unknown): void {
    if (this.state === 'closed') return;
    this.current = null;
    this.connSubs?.unsubscribe();
    this.connSubs = null;
    for (const data of this.outbox.splice(0)) this.droppedSubject.next({ data, reason: 'closed' });
    this.setState('closed');
    this.stateSubject.complete();
    if (error) this.messages.error(error);
    else this.messages.complete();
  }

  private setState(state: ReconnectingState): void {
    if (this.stateSubject.value !== state && !this.stateSubject.closed) this.stateSubject.next(state);
  }
}
