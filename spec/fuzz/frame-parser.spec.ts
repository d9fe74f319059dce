/**
 * Property-based fuzzing of the framing core (targets and properties in
 * ./frame-parser.targets.ts; harness, knobs and regressions in ./harness.ts).
 */
import * as path from 'node:path';
import { FuzzWorker, fuzzTests } from './harness';

describe('fuzz: frame parser and protocol core', function () {
  this.timeout(0); // each job is bounded by the harness's watchdog instead
  let worker: FuzzWorker | null = null;
  const get = (): FuzzWorker => (worker ??= new FuzzWorker(path.join(__dirname, 'frame-parser.targets.ts')));
  after(async () => {
    await worker?.close();
  });

  fuzzTests(get, 'frame-parser/valid', 300);
  fuzzTests(get, 'frame-parser/mutated', 400);
  fuzzTests(get, 'frame-parser/random', 400);
  fuzzTests(get, 'frame-parser/strict', null); // pinned cases only: see expectSameEvents
  fuzzTests(get, 'protocol-core/mutated', 300);
  fuzzTests(get, 'protocol-core/random', 300);
});
