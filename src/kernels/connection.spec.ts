import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { channelAddress, prepareConnection, removeRuntimeDir } from './connection';

describe('prepareConnection', () => {
  it('puts ipc sockets inside the private runtime directory', async () => {
    const { info, runtime } = await prepareConnection('python3', 'ipc');
    try {
      expect(statSync(runtime.dir).mode & 0o777).toBe(0o700);
      expect(statSync(runtime.connectionFile).mode & 0o777).toBe(0o600);
      expect(info.ip.startsWith(`${runtime.dir}/`)).toBe(true);
      const addresses = (['shell', 'iopub', 'stdin', 'control', 'hb'] as const).map((c) =>
        channelAddress(info, c),
      );
      expect(new Set(addresses).size).toBe(5);
      for (const a of addresses)
        expect(a).toMatch(new RegExp(`^ipc://${runtime.dir}/sockets/kernel-[1-5]$`));
      const written = JSON.parse(readFileSync(runtime.connectionFile, 'utf8'));
      expect(written).toMatchObject({ transport: 'ipc', ip: info.ip, key: info.key });
      expect(info.key).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await removeRuntimeDir(runtime.dir);
    }
  });

  it('gives tcp kernels distinct loopback ports', async () => {
    const { info, runtime } = await prepareConnection('python3', 'tcp');
    try {
      expect(info.ip).toBe('127.0.0.1');
      const ports = [
        info.shell_port,
        info.iopub_port,
        info.stdin_port,
        info.control_port,
        info.hb_port,
      ];
      expect(new Set(ports).size).toBe(5);
      expect(channelAddress(info, 'iopub')).toBe(`tcp://127.0.0.1:${info.iopub_port}`);
    } finally {
      await removeRuntimeDir(runtime.dir);
    }
  });
});
