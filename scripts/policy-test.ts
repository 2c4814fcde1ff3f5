/**
 * `npm run policy:test [dir]`: decides every case of `<dir>/tests.csv` against the
 * policy files in `<dir>` (default: RUNGATE_POLICY_DIR or ./policies), prints a
 * pass/fail table and exits 1 on any failure, 2 when the files do not load.
 */
import { join, resolve } from 'node:path';
import { CasbinPolicy } from '../src/policy/casbin-policy';
import {
  formatPolicyTable,
  loadPolicyTable,
  POLICY_TESTS_FILE,
  runPolicyTable,
} from '../src/policy/policy-table';

async function main(): Promise<number> {
  const dir = resolve(
    process.argv[2] ?? process.env.RUNGATE_POLICY_DIR ?? join(__dirname, '..', 'policies'),
  );
  let policy: CasbinPolicy;
  try {
    policy = await CasbinPolicy.load(dir);
  } catch (err) {
    console.error(
      `policy in ${dir} does not load:\n  ${err instanceof Error ? err.message.split('; ').join('\n  ') : String(err)}`,
    );
    return 2;
  }
  const cases = await loadPolicyTable(join(dir, POLICY_TESTS_FILE));
  const results = runPolicyTable(policy, cases);
  console.log(`policy: ${policy.files.join(', ')}\n`);
  console.log(formatPolicyTable(results));
  return results.every((r) => r.passed) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  },
);
