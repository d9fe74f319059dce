/**
 * Lines from stdin to a server and back (the seed's `cli`): each line you
 * type is sent as a text message, and whatever the server sends is printed.
 * End of input (Ctrl-D) closes the connection normally.
 *
 *   npm start &                              # an echo server on ws://127.0.0.1:8080
 *   npx ts-node examples/cli.ts [ws://127.0.0.1:8080]
 *   printf 'one\ntwo\n' | npx ts-node examples/cli.ts
 */
import * as readline from 'node:readline';
import { Observable } from 'rxjs';
import { connect } from 'ws-rx';

const url = process.argv[2] ?? 'ws://127.0.0.1:8080';

/** stdin as an Observable of lines; completes at end of input. */
const lines$ = new Observable<string>((subscriber) => {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => subscriber.next(line));
  rl.on('close', () => subscriber.complete());
  return () => rl.close();
});

connect(url).subscribe({
  next: (conn) => {
    conn.messages$.subscribe({ next: (m) => console.log(`< ${m}`), error: () => {} });
    lines$.subscribe(conn); // every line goes out; the end of stdin closes (1000)
  },
  complete: () => console.log('closed'),
  error: (err: Error) => {
    console.error(`connection to ${url} failed: ${err.message}`);
    process.exitCode = 1;
  },
});
