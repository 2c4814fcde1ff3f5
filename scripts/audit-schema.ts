/**
 * `node -r @swc-node/register scripts/audit-schema.ts [--check | --examples]`:
 * writes docs/audit-event.schema.json from src/audit/audit-event.schema.ts (with
 * --check: exits 1 when the file is out of date instead). `--examples` prints one
 * complete sample event per type, as shown in docs/audit.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditEventSchemaText } from '../src/audit/audit-event.schema';
import { sampleEvents } from '../src/audit/audit-examples';
import { canonicalJson } from '../src/audit/canonical-json';

const file = join(__dirname, '..', 'docs', 'audit-event.schema.json');

function main(args: readonly string[]): number {
  if (args.includes('--examples')) {
    for (const event of sampleEvents()) {
      process.stdout.write(
        `### ${event.type}\n\n\`\`\`json\n${JSON.stringify(JSON.parse(canonicalJson(event)), null, 2)}\n\`\`\`\n\n`,
      );
    }
    return 0;
  }
  const text = auditEventSchemaText();
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (args.includes('--check')) {
    if (current === text) return 0;
    process.stderr.write(`${file} is out of date: run scripts/audit-schema.ts\n`);
    return 1;
  }
  if (current !== text) writeFileSync(file, text);
  process.stdout.write(`${current === text ? 'unchanged' : 'wrote'} ${file}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
