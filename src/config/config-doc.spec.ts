import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC_PATH, renderConfigDoc } from './config-doc';
import { loadConfig } from './load-config';
import { SETTINGS, type Setting, type SettingName } from './settings';

const ROOT = join(__dirname, '..', '..');
const names = Object.keys(SETTINGS) as SettingName[];

describe(renderConfigDoc.name, () => {
  it('matches the committed docs/configuration.md (run npm run config:doc when it does not)', () => {
    const committed = readFileSync(join(ROOT, CONFIG_DOC_PATH), 'utf8');
    expect(committed).toBe(renderConfigDoc());
  });

  it('documents every setting once, and the _FILE form of every secret', () => {
    const doc = renderConfigDoc();
    for (const name of names) {
      expect(doc.match(new RegExp(`^\\| \`${name}\` \\|`, 'gm')), name).toHaveLength(1);
      const setting: Setting = SETTINGS[name];
      if (setting.type === 'secret') expect(doc).toContain(`\`${name}_FILE\``);
    }
  });
});

describe('the settings table', () => {
  it('names every setting the loader reads, and the loader reads every one it names', () => {
    const source = readFileSync(join(__dirname, 'load-config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]));
    expect(names.filter((n) => !read.has(n))).toEqual([]);
    expect([...read].filter((n) => !(n in SETTINGS))).toEqual([]);
  });

  it('holds defaults the loader accepts', () => {
    // Every default, given explicitly, is read back as the same configuration.
    const env: Record<string, string> = { NODE_ENV: 'development' };
    for (const name of names) {
      const setting: Setting = SETTINGS[name];
      if (!('default' in setting) || setting.default === undefined) continue;
      env[name] = Array.isArray(setting.default)
        ? setting.default.join(':')
        : String(setting.default);
    }
    expect(loadConfig(env, ROOT)).toEqual(loadConfig({ NODE_ENV: 'development' }, ROOT));
  });

  it('accepts <NAME>_FILE for every secret', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'rungate-secrets-'));
    try {
      const env: Record<string, string> = {
        NODE_ENV: 'test',
        KAFKA_BROKERS: 'kafka:9092',
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'rungate',
        RUNGATE_APPROVAL_WEBHOOK_URL: 'https://chat.example/hook',
      };
      for (const name of names) {
        if (SETTINGS[name].type !== 'secret') continue;
        const file = join(dir, name);
        writeFileSync(file, `${name.toLowerCase()}-value\n`);
        env[`${name}_FILE`] = file;
      }
      const c = loadConfig(env, ROOT);
      expect(c.database.url).toBe('database_url-value');
      expect(c.auth.introspectionClientSecret).toBe('oidc_client_secret-value');
      expect(c.web.clientSecret).toBe('oidc_web_client_secret-value');
      expect(c.audit.kafka?.sasl?.password).toBe('kafka_sasl_password-value');
      expect(c.audit.cursorSecret).toBe('rungate_cursor_secret-value');
      expect(c.approvals.webhook?.secret).toEqual({
        file: join(dir, 'RUNGATE_APPROVAL_WEBHOOK_SECRET'),
      });
      expect(() => loadConfig({ ...env, DATABASE_URL: 'postgres://x' }, ROOT)).toThrow(
        /set DATABASE_URL or DATABASE_URL_FILE, not both/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
