/**
 * A client: connects to an echo server, sends a message, prints the reply,
 * and closes (the seed's client example).
 *
 *   npm start &                         # an echo server on ws://127.0.0.1:8080
 *   npx ts-node examples/client.ts [ws://127.0.0.1:8080]
 */
import { take } from 'rxjs';
import { connect } from 'ws-rx';

const url = process.argv[2] ?? 'ws://127.0.0.1:8080';

connect(url).subscribe({
  next: (conn) => {
    conn.messages$.pipe(take(1)).subscribe({
      next: (reply) => {
        console.log(`Got message: ${reply}`);
        conn.complete(); // close normally (1000)
      },
      error: (err) => console.error(`connection failed: ${err.message}`),
    });
    conn.next('Hello WebSocket');
  },
  complete: () => console.log('closed'),
  error: (err) => {
    console.error(`could not connect to ${url}: ${err.message}`);
    process.exitCode = 1;
  },
});
