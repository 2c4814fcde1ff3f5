import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config';

const PROD = { NODE_ENV: 'production', OIDC_ISSUER: 'https://idp.example' };

describe('loadConfig', () => {
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
});
