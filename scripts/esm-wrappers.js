// Writes ESM entry points (dist/lib/index.mjs, dist/lib/testing/index.mjs) that
// re-export the CommonJS build by name, so `import { listen } from 'ws-rx'`
// works from .mjs files without a second compilation (one module instance,
// no dual-package hazard).
const fs = require('node:fs');
const path = require('node:path');

for (const entry of ['index', 'testing/index']) {
  const cjs = path.join(__dirname, '..', 'dist', 'lib', entry + '.js');
  if (!fs.existsSync(cjs)) continue;
  const names = Object.keys(require(cjs)).filter((n) => n !== 'default' && n !== '__esModule');
  const base = './' + path.basename(cjs);
  const body =
    `import cjs from '${base}';\n` +
    `export const { ${names.join(', ')} } = cjs;\n` +
    `export default cjs;\n`;
  fs.writeFileSync(cjs.replace(/\.js$/, '.mjs'), body);
}
