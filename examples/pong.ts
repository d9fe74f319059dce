/**
 * Custom ping timing and round-trip measurement (the seed's `pong` example).
 * The server pings every 300 ms with `heartbeat` and reports each round-trip
 * time; the client measures its own with `conn.ping()` at its own pace, and
 * sends unsolicited pongs (a one-way heartbeat, RFC 6455 §5.5.3).
 *
 *   npx ts-node examples/pong.ts
 */
import { first, mergeMap, take, timer } from 'rxjs';
import { connect, heartbeat, listen } from 'ws-rx';

const server$ = listen({ host: '127.0.0.1', port: 0 });
const server = server$.pipe(heartbeat({ interval: 300, timeout: 1000 })).subscribe((conn) => {
  conn.rtt$.subscribe((ms) => console.log(`server: rtt ${ms.toFixed(2)} ms`));
  conn.pongs$.subscribe((p) => p.length === 0 && console.log('server: unsolicited pong'));
});

server$.address$
  .pipe(
    first(),
    mergeMap((a) => connect(`ws://127.0.0.1:${a.port}`)),
  )
  .subscribe({
    next: (conn) => {
      conn.pings$.subscribe(() => console.log('client: ping received (answered automatically)'));
      // Five measured pings, 200 ms apart, then a one-way pong and a normal close.
      timer(0, 200)
        .pipe(
          take(5),
          mergeMap(() => conn.ping()),
        )
        .subscribe({
          next: (ms) => console.log(`client: rtt ${ms.toFixed(2)} ms`),
          complete: () => {
            conn.pong();
            timer(50).subscribe(() => conn.complete());
          },
        });
    },
    complete: () => server.unsubscribe(),
  });
