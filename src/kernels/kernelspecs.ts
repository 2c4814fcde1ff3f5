/**
 * Kernelspec discovery: `<dir>/<name>/kernel.json` in the configured directories
 * (first, highest priority) and then Jupyter's standard data paths.
 *
 * Spec: https://jupyter-client.readthedocs.io/en/latest/kernels.html#kernel-specs
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { JsonObject } from './messages';

/** How a kernel is interrupted: SIGINT to its process group, or interrupt_request on control. */
export type InterruptMode = 'signal' | 'message';

/** A validated kernelspec. */
export interface KernelSpecInfo {
  /** Lower-cased directory name; what runbooks and `acquire()` refer to. */
  readonly name: string;
  readonly displayName: string;
  readonly language: string;
  /** Command line; `{connection_file}` and `{resource_dir}` are substituted at launch. */
  readonly argv: readonly string[];
  readonly interruptMode: InterruptMode;
  /** Variables the spec adds to the kernel's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** The directory holding kernel.json. */
  readonly resourceDir: string;
  readonly metadata: JsonObject;
}

/** A kernel.json that could not be used, and why. */
export interface KernelSpecProblem {
  readonly path: string;
  readonly problem: string;
}

export interface KernelSpecDiscovery {
  /** By name; where two directories hold the same name, the earlier directory wins. */
  readonly specs: ReadonlyMap<string, KernelSpecInfo>;
  readonly problems: readonly KernelSpecProblem[];
}

/** Jupyter's rule for kernel names (jupyter_client `_is_valid_kernel_name`). */
const VALID_NAME = /^[a-z0-9._-]+$/i;

/**
 * The kernelspec directories to search, highest priority first: the configured
 * ones, then JUPYTER_PATH entries, the user's data dir, then the system dirs.
 */
export function kernelSearchDirs(
  specDirs: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  home: string = homedir(),
): string[] {
  const jupyterPath = (env.JUPYTER_PATH ?? '')
    .split(':')
    .filter((p) => p.length > 0)
    .map((p) => join(p, 'kernels'));
  const userData = env.JUPYTER_DATA_DIR ?? join(home, '.local', 'share', 'jupyter');
  const dirs = [
    ...specDirs,
    ...jupyterPath,
    join(userData, 'kernels'),
    '/usr/local/share/jupyter/kernels',
    '/usr/share/jupyter/kernels',
  ];
  return [...new Set(dirs)];
}

/** Reads every kernelspec under `dirs`; invalid ones are reported in `problems`, never thrown. */
export function discoverKernelSpecs(dirs: readonly string[]): KernelSpecDiscovery {
  const specs = new Map<string, KernelSpecInfo>();
  const problems: KernelSpecProblem[] = [];
  for (const dir of dirs) {
    if (!isDirectory(dir)) continue;
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (err) {
      problems.push({ path: dir, problem: `cannot list: ${(err as Error).message}` });
      continue;
    }
    for (const entry of entries) {
      const resourceDir = join(dir, entry);
      const file = join(resourceDir, 'kernel.json');
      if (!isDirectory(resourceDir) || !existsSync(file)) continue;
      const name = entry.toLowerCase();
      if (specs.has(name)) continue;
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        problems.push({ path: file, problem: `not valid JSON: ${(err as Error).message}` });
        continue;
      }
      const parsed = parseKernelSpec(entry, resourceDir, json);
      if ('problem' in parsed) problems.push({ path: file, problem: parsed.problem });
      else specs.set(parsed.spec.name, parsed.spec);
    }
  }
  return { specs, problems };
}

/** Validates one kernel.json document. */
export function parseKernelSpec(
  dirName: string,
  resourceDir: string,
  json: unknown,
): { spec: KernelSpecInfo } | { problem: string } {
  if (!VALID_NAME.test(dirName))
    return { problem: `invalid kernel name "${dirName}" (letters, digits, . _ - only)` };
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return { problem: 'must be a JSON object' };
  const doc = json as JsonObject;
  const {
    argv,
    display_name: displayName,
    language,
    interrupt_mode: interruptMode,
    env,
    metadata,
  } = doc;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) {
    return { problem: 'argv must be a non-empty list of strings' };
  }
  if (!argv.some((a: string) => a.includes('{connection_file}'))) {
    return { problem: 'argv must contain {connection_file}' };
  }
  if (typeof displayName !== 'string' || displayName === '')
    return { problem: 'display_name must be a non-empty string' };
  if (typeof language !== 'string' || language === '')
    return { problem: 'language must be a non-empty string' };
  if (interruptMode !== undefined && interruptMode !== 'signal' && interruptMode !== 'message') {
    return { problem: 'interrupt_mode must be "signal" or "message"' };
  }
  if (env !== undefined && !isStringRecord(env))
    return { problem: 'env must map names to strings' };
  if (
    metadata !== undefined &&
    (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
  ) {
    return { problem: 'metadata must be an object' };
  }
  return {
    spec: {
      name: dirName.toLowerCase(),
      displayName,
      language,
      argv: argv as string[],
      interruptMode: interruptMode ?? 'signal',
      env: env ?? {},
      resourceDir,
      metadata: (metadata as JsonObject | undefined) ?? {},
    },
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
