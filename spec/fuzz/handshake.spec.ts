/**
 * Property-based fuzzing of the opening handshake: HTTP head parsers,
 * request/response validation, header-value parsers (targets in
 * ./handshake.targets.ts; harness, knobs and regressions in ./harness.ts).
 */
import * as path from 'node:path';
import { FuzzWorker, fuzzTests } from './harness';

describe('fuzz: handshake and HTTP heads', function () {
  this.timeout(0); // each job is bounded by the harness's watchdog instead
  let worker: FuzzWorker | null = null;
  const get = (): FuzzWorker => (worker ??= new FuzzWorker(path.join(__dirname, 'handshake.targets.ts')));
  after(async () => {
    await worker?.close();
  });

  fuzzTests(get, 'http/request', 1000);
  fuzzTests(get, 'http/response', 1000);
  fuzzTests(get, 'handshake/valid-request', 300);
  fuzzTests(get, 'handshake/header-values', 1000);
});
