/**
 * Property-based fuzzing of the permessage-deflate inflater (targets in
 * ./deflate.targets.ts; harness, knobs and regressions in ./harness.ts).
 */
import * as path from 'node:path';
import { FuzzWorker, fuzzTests } from './harness';

describe('fuzz: permessage-deflate inflater', function () {
  this.timeout(0); // each job is bounded by the harness's watchdog instead
  let worker: FuzzWorker | null = null;
  const get = (): FuzzWorker => (worker ??= new FuzzWorker(path.join(__dirname, 'deflate.targets.ts')));
  after(async () => {
    await worker?.close();
  });

  fuzzTests(get, 'inflate/valid', 150);
  fuzzTests(get, 'inflate/mutated', 200);
  fuzzTests(get, 'inflate/random', 200);
});
