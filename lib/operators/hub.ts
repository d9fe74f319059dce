/**
 * `createHub()`: in-process broadcast. Connections join and leave topics;
 * `publish(topic, message)` encodes the frame once and writes the same bytes
 * to every member (ws `WebSocket.Server` broadcast with a pre-built frame).
 * A member whose write buffer is over the limit is skipped (or closed), so a
 * slow member slows no one and costs bounded memory; every drop is visible.
 */
import { MonoTypeOperatorFunction, Observable, Subject, Subscription } from '../rx';
import { Connection, prepareMessage, WebSocketData } from '../connection';
import { CloseCode } from '../protocol/close-codes';
import { closed$ } from './internal';

/** What the hub does with a member whose write buffer is over `maxBufferedAmount`. */
export type SlowMemberPolicy = 'drop' | 'close';

/** Settings of `createHub`. */
export interface HubConfig {
  /** A member with more than this many bytes waiting to be written is slow. Default 1 MiB. */
  maxBufferedAmount?: number;
  /** `'drop'` (default): skip the message for that member. `'close'`: close it with 1008 and drop the message. */
  slowMember?: SlowMemberPolicy;
}

/** A message a member did not get, on `dropped$`. */
export interface HubDrop {
  connection: Connection;
  topic: string;
  data: string | Buffer;
  /** `slow`: over `maxBufferedAmount`; `closed`: it was closing. */
  reason: 'slow' | 'closed';
}

/** What one `publish` did. */
export interface PublishResult {
  /** Members the frame was written to. */
  delivered: number;
  /** Members that did not get it (each also on `dropped$`). */
  dropped: number;
}

/** Options of one `publish`. */
export interface PublishOptions {
  /** Send a string as binary. */
  binary?: boolean;
  /** A member not to send to (the sender, in a chat). */
  except?: Connection;
}

/** An in-process broadcast hub. */
export interface Hub {
  /** Adds `conn` to `topic`. It leaves every topic by itself when it closes. */
  join(conn: Connection, topic: string): void;
  /** Removes `conn` from `topic`, or from every topic. */
  leave(conn: Connection, topic?: string): void;
  /** Sends `message` to every member of `topic`. The frame is built once. */
  publish(topic: string, message: WebSocketData, options?: PublishOptions): PublishResult;
  /** Operator: every connection of the source joins `topic`; unsubscribing makes them leave. */
  joinAll<T extends Connection>(topic: string): MonoTypeOperatorFunction<T>;
  /** Members of `topic`. */
  members(topic: string): readonly Connection[];
  /** Topics with at least one member. */
  topics(): string[];
  /** Every message a member did not get. */
  readonly dropped$: Observable<HubDrop>;
}

/**
 * Creates a hub.
 *
 * ```ts
 * const hub = createHub({ maxBufferedAmount: 256 * 1024 });
 * listen(8080).pipe(hub.joinAll('chat')).subscribe(conn =>
 *   conn.messages$.subscribe(m => hub.publish('chat', m, { except: conn })),
 * );
 * ```
 */
export function createHub(config?: HubConfig): Hub {
  return new InProcessHub(config);
}

class InProcessHub implements Hub {
  readonly dropped$: Observable<HubDrop>;
  private readonly byTopic = new Map<string, Set<Connection>>();
  private readonly byConnection = new Map<Connection, { topics: Set<string>; watch: Subscription }>();
  private readonly dropped = new Subject<HubDrop>();
  private readonly limit: number;
  private readonly policy: SlowMemberPolicy;

  constructor(config?: HubConfig) {
    this.dropped$ = this.dropped.asObservable();
    this.limit = config?.maxBufferedAmount ?? 1024 * 1024;
    this.policy = config?.slowMember ?? 'drop';
  }

  join(conn: Connection, topic: string): void {
    if (conn.closeInfo !== null) return;
    let entry = this.byConnection.get(conn);
    if (entry === undefined) {
      const e = { topics: new Set<string>(), watch: new Subscription() };
      this.byConnection.set(conn, e);
      e.watch.add(closed$(conn).subscribe(() => this.leave(conn)));
      // closed$ may have fired already (a connection closing right now).
      if (!this.byConnection.has(conn)) return;
      entry = e;
    }
    entry.topics.add(topic);
    let members = this.byTopic.get(topic);
    if (members === undefined) this.byTopic.set(topic, (members = new Set()));
    members.add(conn);
  }

  leave(conn: Connection, topic?: string): void {
    const entry = this.byConnection.get(conn);
    if (entry === undefined) return;
    const topics = topic === undefined ? [...entry.topics] : entry.topics.has(topic) ? [topic] : [];
    for (const t of topics) {
      entry.topics.delete(t);
      const members = this.byTopic.get(t);
      if (members === undefined) continue;
      members.delete(conn);
      if (members.size === 0) this.byTopic.delete(t);
    }
    if (entry.topics.size === 0) {
      this.byConnection.delete(conn);
      entry.watch.unsubscribe();
    }
  }

  publish(topic: string, message: WebSocketData, options?: PublishOptions): PublishResult {
    const members = this.byTopic.get(topic);
    const result = { delivered: 0, dropped: 0 };
    if (members === undefined) return result;
    // Built once per publish, not once per member.
    const prepared = prepareMessage(message, options);
    const except = options?.except;
    const limit = this.limit;
    // A member closed by the policy leaves the set while we iterate: copy it.
    for (const conn of members.size > 1 && this.policy === 'close' ? [...members] : members) {
      if (conn === except) continue;
      if (!conn.isOpen) {
        result.dropped++;
        this.report(conn, topic, prepared.data, 'closed');
        continue;
      }
      if (conn.bufferedAmount > limit) {
        result.dropped++;
        this.report(conn, topic, prepared.data, 'slow');
        if (this.policy === 'close') conn.close(CloseCode.PolicyViolation, 'too slow to keep up');
        continue;
      }
      if (conn.sendPrepared(prepared)) result.delivered++;
      else {
        result.dropped++;
        this.report(conn, topic, prepared.data, 'closed');
      }
    }
    return result;
  }

  joinAll<T extends Connection>(topic: string): MonoTypeOperatorFunction<T> {
    return (source) =>
      new Observable<T>((subscriber) => {
        const joined = new Set<T>();
        const watches = new Subscription();
        const sub = source.subscribe({
          next: (conn) => {
            if (conn.closeInfo === null) {
              joined.add(conn);
              // Forget it once closed, so a long-lived server does not keep every connection.
              watches.add(closed$(conn).subscribe(() => joined.delete(conn)));
            }
            this.join(conn, topic);
            subscriber.next(conn);
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        });
        return () => {
          sub.unsubscribe();
          watches.unsubscribe();
          for (const conn of joined) this.leave(conn, topic);
        };
      });
  }

  members(topic: string): readonly Connection[] {
    return [...(this.byTopic.get(topic) ?? [])];
  }

  topics(): string[] {
    return [...this.byTopic.keys()];
  }

  private report(connection: Connection, topic: string, data: string | Buffer, reason: 'slow' | 'closed'): void {
    if (this.dropped.observed) this.dropped.next({ connection, topic, data, reason });
  }
}
