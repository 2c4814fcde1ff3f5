import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config';

const PROD = { NODE_ENV: 'production', OIDC_ISSUER: 'https://idp.example' };

describe('loadConfig', () => {
  describe('secrets in files', () => {
    it('reads each secret from NAME_FILE, without the trailing line break', () => {
      const dir = mkdtempSync(join(tmpdir(), 'rungate-secrets-'));
      try {
        writeFileSync(join(dir, 'db'), 'postgres://rungate:s3cret@db.internal/rungate\n');
        writeFileSync(join(dir, 'oidc'), 'client-secret');
        writeFileSync(join(dir, 'kafka'), 'kafka-password\n');
        writeFileSync(join(dir, 'web'), 'web-secret\n');
        const c = loadConfig(
          {
            NODE_ENV: 'test',
            DATABASE_URL_FILE: 'db',
            OIDC_CLIENT_ID: 'rungate',
            OIDC_CLIENT_SECRET_FILE: join(dir, 'oidc'),
            KAFKA_BROKERS: 'kafka:9092',
            KAFKA_SASL_MECHANISM: 'scram-sha-512',
            KAFKA_SASL_USERNAME: 'rungate',
            KAFKA_SASL_PASSWORD_FILE: 'kafka',
            OIDC_WEB_CLIENT_SECRET_FILE: 'web',
          },
          dir,
        );
        expect(c.database.url).toBe('postgres://rungate:s3cret@db.internal/rungate');
        expect(c.auth.introspectionClientSecret).toBe('client-secret');
        expect(c.audit.kafka?.sasl).toMatchObject({ password: 'kafka-password' });
        expect(c.web.clientSecret).toBe('web-secret');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a secret given both ways, or a file that cannot be read', () => {
      expect(() =>
        loadConfig({ DATABASE_URL: 'postgres://x/y', DATABASE_URL_FILE: 'db' }, '/srv/rungate'),
      ).toThrow(/set DATABASE_URL or DATABASE_URL_FILE, not both/);
      expect(() =>
        loadConfig({ OIDC_CLIENT_SECRET_FILE: '/nonexistent/secret' }, '/srv/rungate'),
      ).toThrow(/OIDC_CLIENT_SECRET_FILE: cannot read \/nonexistent\/secret \(ENOENT\)/);
    });
  });

  describe('kernels', () => {
    it('sandboxes kernels by default, in a private network, within limits', () => {
      const k = loadConfig({ NODE_ENV: 'test' }, '/srv/rungate').kernels;
      expect(k.provisioner).toBe('sandbox');
      expect(k.sandbox.network).toBe('private');
      expect(k.limits.memoryBytes).toBe(2048 * 1024 * 1024);
      expect(k.limits.pids).toBeGreaterThan(0);
    });

    it('refuses unsandboxed kernels in production unless the operator accepts the risk', () => {
      const env = { ...PROD, RUNGATE_KERNEL_PROVISIONER: 'process' };
      expect(() => loadConfig(env, '/srv/rungate')).toThrow(ConfigError);
      expect(() => loadConfig(env, '/srv/rungate')).toThrow(/RUNGATE_ACCEPT_UNSANDBOXED_KERNELS/);
      const accepted = loadConfig(
        { ...env, RUNGATE_ACCEPT_UNSANDBOXED_KERNELS: 'true' },
        '/srv/rungate',
      );
      expect(accepted.kernels.provisioner).toBe('process');
    });

    it('allows unsandboxed kernels in development', () => {
      const k = loadConfig({ RUNGATE_KERNEL_PROVISIONER: 'process' }, '/srv/rungate').kernels;
      expect(k.provisioner).toBe('process');
    });

    it('names a bad provisioner or network mode', () => {
      expect(() =>
        loadConfig({ NODE_ENV: 'test', RUNGATE_SANDBOX_NETWORK: 'bridge' }, '/srv/rungate'),
      ).toThrow(/RUNGATE_SANDBOX_NETWORK/);
    });
  });
  describe('the RUNGATE_CONFIG file', () => {
    it('reads settings and secret files from it, the environment winning, and refuses unknown keys', () => {
      const dir = mkdtempSync(join(tmpdir(), 'rungate-config-file-'));
      try {
        writeFileSync(join(dir, 'db'), 'postgres://file/db\n');
        writeFileSync(
          join(dir, 'rungate.yaml'),
          'RUNGATE_PORT: 9090\nRUNGATE_MAX_SESSIONS: 8\nDATABASE_URL_FILE: db\n',
        );
        const c = loadConfig(
          { NODE_ENV: 'test', RUNGATE_CONFIG: 'rungate.yaml', RUNGATE_MAX_SESSIONS: '5' },
          dir,
        );
        expect(c.http.port).toBe(9090);
        expect(c.sessions.maxOpen).toBe(5);
        expect(c.database.url).toBe('postgres://file/db');

        writeFileSync(join(dir, 'typo.yaml'), 'RUNGATE_PROT: 9090\nRUNGATE_PORT_FILE: x\n');
        expect(() => loadConfig({ NODE_ENV: 'test', RUNGATE_CONFIG: 'typo.yaml' }, dir)).toThrow(
          /RUNGATE_PROT is not a setting[\s\S]*RUNGATE_PORT_FILE is not a setting/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
  describe('CORS', () => {
    it('has none by default, takes bare origins, and refuses anything else', () => {
      expect(loadConfig({ NODE_ENV: 'test' }).http.corsOrigins).toEqual([]);
      expect(
        loadConfig({
          NODE_ENV: 'test',
          RUNGATE_CORS_ORIGINS: 'https://ops.example.com, http://127.0.0.1:3000',
        }).http.corsOrigins,
      ).toEqual(['https://ops.example.com', 'http://127.0.0.1:3000']);
      expect(() =>
        loadConfig({ NODE_ENV: 'test', RUNGATE_CORS_ORIGINS: 'https://ops.example.com/app' }),
      ).toThrow(
        /RUNGATE_CORS_ORIGINS: "https:\/\/ops.example.com\/app" is not an http\(s\) origin/,
      );
    });
  });
});
