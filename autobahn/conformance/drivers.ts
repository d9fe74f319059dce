/**
 * Implementations under test, in-process: echo clients and echo servers for
 * ws-rx and for the `ws` reference. This is the only conformance file that
 * imports `lib/` (the suite itself is an independent oracle).
 *
 * @packageDocumentation
 */

import { EMPTY, catchError, ignoreElements, lastValueFrom, mergeMap, tap } from 'rxjs';
import WebSocket from 'ws';
import { connect, listen } from '../../lib';
import type { ClientOptions, ServerOptions } from '../../lib';
import type { ClientOutcome } from './fuzzing-server';

/** Opens `url`, echoes every message until the connection ends, reports what happened. */
export type ClientDriver = (url: string) => Promise<ClientOutcome>;

const MAX = 64 * 1024 * 1024;

/**
 * permessage-deflate settings of ws-rx under test (CI and `npm run conformance`):
 * everything else at its default, but `threshold: 0` so that even 16-octet
 * messages are compressed (the default, 1024, sends small messages as they are,
 * which RFC 7692 allows but which tests less). `--deflate default` uses `true`.
 */
export const WS_RX_DEFLATE = { threshold: 0 } as const;

/** ws-rx's client (`connect`), echoing every message (what `autobahn/client.ts` does). */
export function wsRxClient(options: ClientOptions = {}): ClientDriver {
  return async (url) => {
    const outcome: ClientOutcome = { opened: false };
    await lastValueFrom(
      connect(url, { maxPayload: MAX, ...options }).pipe(
        mergeMap((conn) => {
          outcome.opened = true;
          return conn.messages$.pipe(
            tap((m) => conn.next(m)),
            ignoreElements(),
            // A protocol error ends messages$; the connection's end is reported by connect.
            catchError(() => EMPTY),
          );
        }),
        catchError((e: unknown) => {
          outcome.error = { name: e instanceof Error ? e.constructor.name : 'Error', message: e instanceof Error ? e.message : String(e) };
          return EMPTY;
        }),
      ),
      { defaultValue: undefined },
    );
    return outcome;
  };
}

/** The `ws` package's client (reference), echoing every message with its type. */
export function wsClient(options: WebSocket.ClientOptions = {}): ClientDriver {
  return (url) =>
    new Promise<ClientOutcome>((resolve) => {
      const outcome: ClientOutcome = { opened: false };
      const ws = new WebSocket(url, { maxPayload: MAX, ...options });
      ws.on('open', () => (outcome.opened = true));
      ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
      ws.on('error', (e) => (outcome.error ??= { name: e.constructor.name, message: e.message }));
      ws.on('close', () => resolve(outcome));
    });
}

/** A running in-process echo server. */
export interface EchoServer {
  url: string;
  close(): Promise<void>;
}

/** ws-rx's server (`listen`) echoing every message, on a free loopback port. */
export function startWsRxServer(options: Omit<ServerOptions, 'host' | 'port'> = {}): Promise<EchoServer> {
  return new Promise((resolve, reject) => {
    const l = listen({ host: '127.0.0.1', port: 0, maxPayload: MAX, ...options } as ServerOptions);
    const sub = l.subscribe({
      next: (conn) => conn.messages$.subscribe({ next: (m) => conn.next(m), error: () => undefined }),
      error: reject,
    });
    const a = l.address$.subscribe((addr) => {
      resolve({
        url: `ws://127.0.0.1:${addr.port}`,
        close: async () => {
          a.unsubscribe();
          sub.unsubscribe();
        },
      });
    });
  });
}

/** Client-side check for ws-rx: invalid handshakes must end `connect` with a HandshakeError. */
export function wsRxOutcomeCheck(caseId: string, o: ClientOutcome): string | null {
  if (caseId.startsWith('0.1.')) {
    if (o.opened) return 'connect emitted a Connection for an invalid handshake';
    if (o.error?.name !== 'HandshakeError') return `connect should error with HandshakeError, got ${o.error ? `${o.error.name}: ${o.error.message}` : 'no error'}`;
  }
  return null;
}
