/**
 * `createPair()`: a client and a server `Connection` joined in memory. Bytes
 * go through the real protocol core (frame writer, client masking, parser,
 * closing handshake) and the real `StreamTransport`, with no sockets.
 */
import type { SchedulerLike } from 'rxjs';
import { Connection, UpgradeRequest } from '../connection';
import { resolveConnectionOptions } from '../options';
import { StreamTransport, StreamTransportOptions } from '../transport/stream-transport';
import { duplexPair } from './duplex-pair';
import { VirtualStream, virtualStreamPair } from './virtual-stream';

/** Settings of `createPair`. */
export interface PairOptions {
  /**
   * Run on this scheduler (a `TestScheduler` inside `run()`, or a
   * `VirtualTimeScheduler`): every byte delivery and every flush is a
   * scheduled action, so a conversation happens in virtual time, in order,
   * synchronously with your marbles. Without it the pair runs on Node
   * streams in real time.
   */
  scheduler?: SchedulerLike;
  /** With a scheduler: one-way delivery delay in ms (virtual). Default 0. */
  latency?: number;
  /** Largest incoming message, bytes. Default 64 MiB. */
  maxPayload?: number;
  /** Write buffer size above which a side stops reading. Default 256 KiB. */
  highWaterMark?: number;
  /** Closing handshake timeout in (real) ms. Default 10 s. */
  closeTimeout?: number;
  /** Subprotocol both sides report. Default ''. */
  protocol?: string;
  /** The upgrade request the server side reports. */
  request?: Partial<UpgradeRequest>;
}

/** Two connected connections. */
export interface ConnectionPair {
  /** The client end: masks what it sends (RFC 6455 §5.3). */
  client: Connection;
  /** The server end. */
  server: Connection;
  /**
   * Makes one side stop reading, so it answers nothing (no pong, no close):
   * a peer that went silent. With a scheduler, what reaches it is discarded;
   * on Node streams it is left unread.
   */
  silence(side: 'client' | 'server'): void;
}

/** A StreamTransport whose flushes are scheduled actions (not microtasks), for virtual time. */
class ScheduledTransport extends StreamTransport {
  private readonly scheduler: SchedulerLike;

  constructor(stream: VirtualStream, options: StreamTransportOptions, scheduler: SchedulerLike) {
    super(stream, options);
    this.scheduler = scheduler;
  }

  protected override scheduleFlush(): void {
    this.scheduler.schedule(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }
}

/**
 * Creates a connected client/server pair in memory.
 *
 * ```ts
 * const { client, server } = createPair();
 * server.messages$.subscribe(server); // echo
 * client.messages$.subscribe(m => console.log(m));
 * client.next('hello');
 * ```
 */
export function createPair(options?: PairOptions): ConnectionPair {
  const { maxPayload, highWaterMark, closeTimeout } = resolveConnectionOptions(options);
  const settings = (role: 'client' | 'server'): StreamTransportOptions => ({ role, maxPayload, highWaterMark, closeTimeout });
  const scheduler = options?.scheduler;
  let clientTransport: StreamTransport;
  let serverTransport: StreamTransport;
  let silence: (side: 'client' | 'server') => void;
  if (scheduler !== undefined) {
    const [c, s] = virtualStreamPair(scheduler, options?.latency ?? 0);
    clientTransport = new ScheduledTransport(c, settings('client'), scheduler);
    serverTransport = new ScheduledTransport(s, settings('server'), scheduler);
    silence = (side) => {
      (side === 'client' ? c : s).blackhole = true;
    };
  } else {
    const [c, s] = duplexPair();
    clientTransport = new StreamTransport(c, settings('client'));
    serverTransport = new StreamTransport(s, settings('server'));
    silence = (side) => (side === 'client' ? client : server).pause();
  }
  const protocol = options?.protocol ?? '';
  const url = options?.request?.url ?? '/';
  const client = new Connection({
    transport: clientTransport,
    protocol,
    extensions: [],
    request: { url: `ws://memory${url}`, headers: {} },
  });
  const server = new Connection({
    transport: serverTransport,
    protocol,
    extensions: [],
    request: { url, headers: {}, remoteAddress: 'memory', ...options?.request },
  });
  clientTransport.start();
  serverTransport.start();
  return { client, server, silence };
}
