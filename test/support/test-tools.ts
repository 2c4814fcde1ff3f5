import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './gateway';

/**
 * The Python of the test tools' virtual environment (schemathesis, nbformat), installed
 * on first use by scripts/install-test-tools.sh into .cache/.
 */
export function testToolsPython(): string {
  const st = execFileSync('bash', [join(ROOT, 'scripts', 'install-schemathesis.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return join(st, '..', 'python');
}
