/**
 * The package as users load it: after `npm run build`, `import` from an .mjs
 * file and `require` from a .cjs file both resolve `ws-rx` (the exports map,
 * through package self-reference) and `ws-rx/testing`.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

describe('package entry points (needs npm run build)', () => {
  let dir: string;
  before(function () {
    if (!existsSync(path.join(root, 'dist', 'lib', 'index.js'))) {
      throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    }
    dir = mkdtempSync(path.join(root, '.tmp-entry-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("import { listen, connect } from 'ws-rx' works in an .mjs file", () => {
    const file = path.join(dir, 'check.mjs');
    writeFileSync(
      file,
      `import { listen, connect, CloseCode, WebSocketError } from 'ws-rx';
import def from 'ws-rx';
console.log(JSON.stringify([typeof listen, typeof connect, CloseCode.Normal, typeof WebSocketError, typeof def.listen]));`,
    );
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    expect(JSON.parse(out)).to.deep.equal(['function', 'function', 1000, 'function', 'function']);
  });

  it("require('ws-rx') works in a .cjs file", () => {
    const file = path.join(dir, 'check.cjs');
    writeFileSync(file, `const ws = require('ws-rx'); console.log(JSON.stringify([typeof ws.listen, typeof ws.connect]));`);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    expect(JSON.parse(out)).to.deep.equal(['function', 'function']);
  });

  it("loads RxJS module by module, and its Observables are the ones users import from 'rxjs'", () => {
    const file = path.join(dir, 'rxjs.cjs');
    writeFileSync(
      file,
      `const ws = require('ws-rx');
const loaded = Object.keys(require.cache).filter((k) => k.includes('rxjs'));
const full = loaded.some((k) => /rxjs[\\/]dist[\\/]cjs[\\/]index\\.js$/.test(k));
const rx = require('rxjs');
const server = ws.listen({ host: '127.0.0.1', port: 0 });
const sub = server.pipe(rx.take(1)).subscribe();
console.log(JSON.stringify([full, loaded.length, server instanceof rx.Observable, sub instanceof rx.Subscription]));
sub.unsubscribe();`,
    );
    const [full, modules, observable, subscription] = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' }));
    expect(full, "require('ws-rx') loaded all of rxjs").to.equal(false);
    expect(modules).to.be.within(1, 100);
    expect(observable).to.equal(true);
    expect(subscription).to.equal(true);
  });

  it("'ws-rx/testing' resolves from both module systems", () => {
    const mjs = path.join(dir, 'testing.mjs');
    writeFileSync(mjs, `import { createPair } from 'ws-rx/testing'; console.log(typeof createPair);`);
    expect(execFileSync(process.execPath, [mjs], { encoding: 'utf8' }).trim()).to.equal('function');
    const cjs = path.join(dir, 'testing.cjs');
    writeFileSync(cjs, `console.log(typeof require('ws-rx/testing').createPair);`);
    expect(execFileSync(process.execPath, [cjs], { encoding: 'utf8' }).trim()).to.equal('function');
  });

  it('ships declaration files', () => {
    expect(existsSync(path.join(root, 'dist', 'lib', 'index.d.ts'))).to.equal(true);
  });
});
