/**
 * Autobahn fuzzingserver client (the fuzzingserver convention): ask
 * `/getCaseCount`, run each case with `/runCase?case=i&agent=A` echoing every
 * message until the server closes, then `/updateReports?agent=A`.
 *
 *   npm run autobahn:client -- --url ws://127.0.0.1:9001 [--agent ws-rx] [--cases 1-20] [--deflate]
 */
import { firstValueFrom, lastValueFrom, EMPTY, catchError, ignoreElements, mergeMap, tap } from 'rxjs';
import { connect, ClientOptions } from '../lib';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const base = (arg('url') ?? 'ws://127.0.0.1:9001').replace(/\/$/, '');
const agent = arg('agent') ?? 'ws-rx';
const options: ClientOptions & { perMessageDeflate?: unknown } = { maxPayload: 64 * 1024 * 1024 };
if (process.argv.includes('--deflate')) options.perMessageDeflate = true;

/** Opens `url`, echoes every message until the peer closes; never throws. */
export function runEcho(url: string): Promise<void> {
  return lastValueFrom(
    connect(url, options).pipe(
      mergeMap((conn) =>
        conn.messages$.pipe(
          tap((m) => conn.next(m)),
          ignoreElements(),
        ),
      ),
      catchError(() => EMPTY),
    ),
    { defaultValue: undefined },
  );
}

async function main(): Promise<void> {
  const count = Number(
    await firstValueFrom(
      connect(`${base}/getCaseCount`, options).pipe(mergeMap((conn) => conn.messages$)),
    ),
  );
  const range = arg('cases');
  let [from, to] = [1, count];
  if (range) [from, to] = range.split('-').map(Number) as [number, number];
  console.log(`fuzzingserver has ${count} cases; running ${from}..${to ?? from} as ${agent}`);
  for (let i = from; i <= (to ?? from); i++) {
    await runEcho(`${base}/runCase?case=${i}&agent=${encodeURIComponent(agent)}`);
    if (i % 50 === 0) console.log(`  ${i}/${count}`);
  }
  await runEcho(`${base}/updateReports?agent=${encodeURIComponent(agent)}`);
  console.log('reports updated');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
