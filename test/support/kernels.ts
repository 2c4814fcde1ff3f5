/**
 * Helpers for tests that need real kernels: a configuration with a private data
 * directory, deadline-bound waits, and process checks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config.types';
import { loadConfig } from '../../src/config/load-config';
import { isProcessRunning } from '../../src/kernels/process-info';

/** A configuration for kernel tests: its own data dir, the repo's kernelspecs, no pool unless asked. */
export async function kernelTestConfig(
  env: Record<string, string> = {},
): Promise<{ config: AppConfig; cleanup: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rungate-kernels-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNGATE_DATA_DIR: dataDir,
    RUNGATE_KERNEL_POOL_SIZE: '0',
    RUNGATE_KERNEL_START_TIMEOUT: '30',
    RUNGATE_KERNEL_SHUTDOWN_GRACE: '2',
    ...env,
  });
  return { config, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** True while a process with this pid exists and is not a zombie. */
export function processExists(pid: number): boolean {
  return isProcessRunning(pid);
}
