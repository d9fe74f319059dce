/**
 * Typed JSON messages with `json<In, Out>()`: the server answers `add`
 * requests; a message that is not JSON (or not a request) is skipped and
 * reported instead of crashing anything.
 *
 *   npx ts-node examples/json.ts
 */
import { first, mergeMap, take, toArray } from 'rxjs';
import { connect, json, listen } from 'ws-rx';

type Request = { id: number; op: 'add'; args: number[] };
type Response = { id: number; result: number };
const isRequest = (v: unknown): v is Request =>
  typeof v === 'object' && v !== null && (v as Request).op === 'add' && Array.isArray((v as Request).args);

const server$ = listen({ host: '127.0.0.1', port: 0 });
const server = server$.pipe(json<Request, Response>({ validate: isRequest, onDecodeError: 'skip' })).subscribe((c) => {
  c.errors$.subscribe((e) => console.log(`server skipped a message: ${e.message}`));
  c.messages$.subscribe((req) => c.next({ id: req.id, result: req.args.reduce((a, b) => a + b, 0) }));
});

server$.address$
  .pipe(
    first(),
    mergeMap((a) => connect(`ws://127.0.0.1:${a.port}`).pipe(json<Response, Request>())),
  )
  .subscribe((c) => {
    c.messages$.pipe(take(2), toArray()).subscribe((answers) => {
      console.log('answers:', answers);
      c.complete();
      server.unsubscribe();
    });
    c.next({ id: 1, op: 'add', args: [1, 2, 3] });
    c.connection.send('this is not JSON'); // skipped by the server, reported on its errors$
    c.next({ id: 2, op: 'add', args: [40, 2] });
  });
