/** Loopback helpers for the operator integration specs. */
import * as net from 'node:net';
import { firstValueFrom, Observable, Subscription } from 'rxjs';
import { Connection, listen, Listener } from '../../../lib';

/** Listens on 127.0.0.1 (port 0 unless given) and resolves once bound. */
export async function serve(
  pipeline: (server$: Listener) => Observable<unknown>,
  port = 0,
): Promise<{ port: number; url: string; sub: Subscription }> {
  const server$ = listen({ host: '127.0.0.1', port });
  const sub = pipeline(server$).subscribe({ error: () => {} });
  const address = await within(firstValueFrom(server$.address$), 5000, 'listening');
  return { port: address.port, url: `ws://127.0.0.1:${address.port}`, sub };
}

/** A promise that rejects after `ms` with what it was waiting for. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/** How an Observable ended: its error, or 'complete'. */
export function ending(source: Observable<unknown>): Promise<unknown> {
  return new Promise((resolve) => source.subscribe({ error: resolve, complete: () => resolve('complete') }));
}

/**
 * A raw TCP peer that completes the opening handshake and then says nothing
 * more: it never answers a ping. Resolves with the socket and every byte it
 * receives after the 101.
 */
export function silentPeer(port: number): Promise<{ socket: net.Socket; received: Buffer[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let head = Buffer.alloc(0);
    let open = false;
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', reject);
    socket.on('connect', () =>
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      if (open) {
        received.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, 12).toString().includes('101')) return reject(new Error(`handshake refused: ${head.toString()}`));
      open = true;
      if (head.length > end + 4) received.push(head.subarray(end + 4));
      resolve({ socket, received, ended });
    });
  });
}

/** The next connection a listener's pipeline emits. */
export function nextConnection(list: Connection[], waiters: ((c: Connection) => void)[]): Promise<Connection> {
  return list.length > 0 ? Promise.resolve(list.shift()!) : new Promise((r) => waiters.push(r));
}
