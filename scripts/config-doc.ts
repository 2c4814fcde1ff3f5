/**
 * `npm run config:doc`: writes docs/configuration.md from the settings table
 * (src/config/settings.ts). `npm run config:doc -- --check` only compares, and exits 1
 * when the file is stale (the unit test src/config/config-doc.spec.ts does the same
 * in `npm test`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_DOC_PATH, renderConfigDoc } from '../src/config/config-doc';

function main(): number {
  const path = join(__dirname, '..', CONFIG_DOC_PATH);
  const text = renderConfigDoc();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) return 0;
    console.error(`${CONFIG_DOC_PATH} is stale: run npm run config:doc`);
    return 1;
  }
  writeFileSync(path, text);
  console.log(`wrote ${CONFIG_DOC_PATH}`);
  return 0;
}

process.exitCode = main();
