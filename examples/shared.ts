/**
 * A server and a client on one event loop, talking to each other (the seed's
 * `shared` example): the client is spawned once the server listens.
 *
 *   npx ts-node examples/shared.ts
 */
import { first, mergeMap, take } from 'rxjs';
import { connect, listen } from 'ws-rx';

const server$ = listen({ host: '127.0.0.1', port: 0 });

const server = server$.subscribe((conn) => {
  conn.messages$.subscribe({
    next: (msg) => {
      console.log(`Server got message '${msg}'.`);
      conn.next(msg); // echo
    },
    error: () => undefined,
  });
});

server$.address$
  .pipe(
    first(),
    mergeMap((address) => connect(`ws://127.0.0.1:${address.port}`)),
  )
  .subscribe({
    next: (conn) => {
      conn.messages$.pipe(take(1)).subscribe((msg) => {
        console.log(`Client got message '${msg}'.`);
        conn.complete();
      });
      conn.next('Hello WebSocket');
    },
    complete: () => {
      console.log('Client closed; stopping the server.');
      server.unsubscribe();
    },
  });
