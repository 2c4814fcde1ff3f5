import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load-config';
import { loadTargetsFile, parseTargets, type TargetsFileOptions } from './targets-file';

const options: TargetsFileOptions = {
  rolePrefix: 'rg_',
  env: { SHOP_ADMIN_URL: 'postgresql://admin:pw@db:5432/shop', BILLING_RO: 'ro-token' },
  reservedNames: ['demo-shop'],
};

function problemsOf(text: string, opts: TargetsFileOptions = options): string[] {
  try {
    parseTargets(text, 'targets.yaml', opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('targets file', () => {
  describe(parseTargets.name, () => {
    it('reads postgres and static targets with their references', () => {
      const dir = mkdtempSync(join(tmpdir(), 'rungate-targets-spec-'));
      writeFileSync(join(dir, 'rw-token'), 'rw\n');
      const defs = parseTargets(
        [
          'targets:',
          '  - name: shop-db',
          '    environment: prod',
          '    kind: postgres',
          '    adminUrl: { env: SHOP_ADMIN_URL }',
          '    readRole: shop_read',
          '    writeRole: shop_write',
          '  - name: billing-api',
          '    environment: staging',
          '    kind: static',
          '    url: https://billing.example',
          '    readOnly: { env: BILLING_RO }',
          '    elevated: { file: rw-token }',
        ].join('\n'),
        join(dir, 'targets.yaml'),
        options,
      );
      expect(defs).toMatchObject([
        {
          name: 'shop-db',
          kind: 'postgres',
          adminUrl: { env: 'SHOP_ADMIN_URL' },
          readRole: 'shop_read',
          writeRole: 'shop_write',
          connectionLimit: 5,
        },
        {
          name: 'billing-api',
          kind: 'static',
          protocol: 'http',
          readOnly: { env: 'BILLING_RO' },
          elevated: { file: join(dir, 'rw-token') },
        },
      ]);
    });

    it('answers no targets for an empty file', () => {
      expect(parseTargets('', 'targets.yaml', options)).toEqual([]);
      expect(parseTargets('targets: []', 'targets.yaml', options)).toEqual([]);
    });

    it('refuses inline secrets without repeating them', () => {
      const problems = problemsOf(
        [
          'targets:',
          '  - name: shop-db',
          '    environment: prod',
          '    kind: postgres',
          '    adminUrl: postgresql://admin:hunter2@db/shop',
          '    readRole: shop_read',
          '  - name: billing-api',
          '    environment: prod',
          '    kind: static',
          '    url: https://billing.example',
          '    readOnly: s3cr3t-token',
        ].join('\n'),
      );
      expect(problems).toEqual([
        expect.stringMatching(
          /targets\[0\] \(shop-db\)\.adminUrl: secrets are given by reference only/,
        ),
        expect.stringMatching(
          /targets\[1\] \(billing-api\)\.readOnly: secrets are given by reference only/,
        ),
      ]);
      expect(problems.join('\n')).not.toMatch(/hunter2|s3cr3t/);
    });

    it('refuses a value reference, which only the gateway itself may give', () => {
      const problems = problemsOf(
        [
          'targets:',
          '  - name: billing-api',
          '    environment: prod',
          '    kind: static',
          '    url: https://billing.example',
          '    readOnly: { value: s3cr3t-token }',
        ].join('\n'),
      );
      expect(problems).toEqual([
        expect.stringMatching(
          /targets\[0\] \(billing-api\)\.readOnly: must have exactly one of env or file \(got value\)/,
        ),
      ]);
      expect(problems.join('\n')).not.toMatch(/s3cr3t/);
    });

    it('reports every problem at once', () => {
      const problems = problemsOf(
        [
          'extra: 1',
          'targets:',
          '  - name: Shop_DB',
          '    environment: prod',
          '    kind: postgres',
          '    adminUrl: { env: MISSING_VAR }',
          '    readRole: rg_reader',
          '    password: x',
          '  - name: demo-shop',
          '    environment: prod',
          '    kind: static',
          '    url: https://user:pw@example',
          '    readOnly: { file: /nonexistent/token }',
          '  - name: a',
          '    environment: prod',
          '    kind: ftp',
          '  - name: b',
          '    environment: prod',
          '    kind: static',
          '    url: https://b.example',
          '    readOnly: { env: BILLING_RO }',
          '  - name: b',
          '    environment: prod',
          '    kind: static',
          '    url: https://b.example',
          '    readOnly: { env: BILLING_RO, file: x }',
        ].join('\n'),
      );
      expect(problems).toEqual([
        'targets.yaml: unknown top-level key "extra" (expected "targets")',
        expect.stringMatching(/targets\[0\]\.name: must be lowercase/),
        expect.stringMatching(/targets\[0\]: unknown setting "password" for kind postgres/),
        expect.stringMatching(
          /targets\[0\]\.readRole: "rg_reader" starts with the minted-role prefix "rg_"/,
        ),
        'targets.yaml: targets[0].adminUrl: environment variable MISSING_VAR is empty or not set',
        expect.stringMatching(/targets\[1\] \(demo-shop\)\.url: must not carry credentials/),
        'targets.yaml: targets[1] (demo-shop).readOnly: file /nonexistent/token cannot be read (ENOENT)',
        'targets.yaml: targets[1] (demo-shop): the name "demo-shop" is taken by a built-in target',
        expect.stringMatching(/targets\[2\] \(a\)\.kind: must be postgres or static \(got "ftp"\)/),
        expect.stringMatching(/targets\[4\] \(b\)\.readOnly: must have exactly one of env or file/),
        'targets.yaml: targets[4] (b): the name "b" is already used by targets.yaml: targets[3] (b)',
      ]);
    });

    it('reports names taken twice or by a built-in target, and references that yield nothing', () => {
      const entry = (name: string, ref: string) => [
        `  - name: ${name}`,
        '    environment: prod',
        '    kind: static',
        '    url: https://x.example',
        `    readOnly: ${ref}`,
      ];
      const problems = problemsOf(
        [
          'targets:',
          ...entry('demo-shop', '{ env: BILLING_RO }'),
          ...entry('b', '{ env: UNSET_VAR }'),
          ...entry('b', '{ file: /nonexistent/token }'),
        ].join('\n'),
      );
      expect(problems).toEqual([
        'targets.yaml: targets[0] (demo-shop): the name "demo-shop" is taken by a built-in target',
        'targets.yaml: targets[1] (b).readOnly: environment variable UNSET_VAR is empty or not set',
        'targets.yaml: targets[2] (b).readOnly: file /nonexistent/token cannot be read (ENOENT)',
        'targets.yaml: targets[2] (b): the name "b" is already used by targets.yaml: targets[1] (b)',
      ]);
    });

    it('refuses an admin URL that is not a postgres URL, without showing it', () => {
      const problems = problemsOf(
        [
          'targets:',
          '  - name: shop-db',
          '    environment: prod',
          '    kind: postgres',
          '    adminUrl: { env: SHOP_ADMIN_URL }',
          '    readRole: shop_read',
        ].join('\n'),
        { ...options, env: { SHOP_ADMIN_URL: 'mysql://admin:hunter2@db/shop' } },
      );
      expect(problems).toEqual([
        'targets.yaml: targets[0] (shop-db).adminUrl: environment variable SHOP_ADMIN_URL must hold a URL postgresql://user:password@host:port/database',
      ]);
    });

    it('accepts targets.example.yaml once its references resolve', () => {
      const example = resolve(__dirname, '..', '..', 'targets.example.yaml');
      const load = () =>
        loadTargetsFile(example, {
          rolePrefix: 'rg_',
          env: { ORDERS_DB_ADMIN_URL: 'postgresql://a:b@db/orders', BILLING_API_RO_TOKEN: 't' },
        });
      // Only the mounted secret file is missing on a build machine.
      expect(load).toThrow(
        new ConfigError([
          `${example}: targets[1] (billing-api).elevated: file /run/secrets/billing-api-rw-token cannot be read (ENOENT)`,
        ]),
      );
    });

    it('does not quote the line of a YAML syntax error', () => {
      const problems = problemsOf(
        'targets:\n  - name: x\n    adminUrl: "postgresql://a:topsecret@h/db\n',
      );
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).not.toContain('topsecret');
    });
  });
});
