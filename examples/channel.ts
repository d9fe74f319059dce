/**
 * Feeding a connection from outside, through a Subject (the seed's `channel`
 * example): code that knows nothing of WebSockets pushes into a Subject, and
 * the Subject is piped into the connection. Completing the Subject closes the
 * connection (1000).
 *
 *   npx ts-node examples/channel.ts
 */
import { first, mergeMap, Subject, take, timer } from 'rxjs';
import { connect, listen } from 'ws-rx';

const server$ = listen({ host: '127.0.0.1', port: 0 });
const server = server$.subscribe((conn) => conn.messages$.subscribe({ next: (m) => conn.next(`echo: ${m}`), error: () => {} }));

/** The channel: anything may push into it. */
const channel = new Subject<string>();

server$.address$
  .pipe(
    first(),
    mergeMap((a) => connect(`ws://127.0.0.1:${a.port}`)),
  )
  .subscribe({
    next: (conn) => {
      conn.messages$.subscribe({ next: (m) => console.log(`client got: ${m}`), error: () => {} });
      channel.subscribe(conn); // the Subject drives the connection
      // Some producer elsewhere in the program:
      timer(0, 100)
        .pipe(take(4))
        .subscribe({
          next: (i) => channel.next(`tick ${i}`),
          complete: () => timer(100).subscribe(() => channel.complete()),
        });
    },
    complete: () => {
      console.log('closed; stopping the server');
      server.unsubscribe();
    },
  });
