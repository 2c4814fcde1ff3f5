/**
 * The environment a kernel process gets. Built from an allow-list, never by
 * removing known secrets from the gateway's own environment: anything not named
 * here (DATABASE_URL, OIDC_*, KAFKA_*, cloud credentials ...) never reaches a kernel.
 */
import type { KernelsConfig } from '../config/config.types';
import type { KernelSpecInfo } from './kernelspecs';

/** Variables copied from the gateway's environment when present. */
export const ALLOWED_PARENT_VARIABLES: readonly string[] = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];
/** Prefixes copied from the gateway's environment (locale categories). */
export const ALLOWED_PARENT_PREFIXES: readonly string[] = ['LC_'];

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The kernel's environment: allow-listed gateway variables, the spec's `env`
 * (where `${VAR}` may refer only to allow-listed variables), PYTHONPATH from
 * configuration, and JPY_PARENT_PID so ipykernel exits if the gateway dies.
 */
export function kernelEnvironment(
  parentEnv: Env,
  spec: Pick<KernelSpecInfo, 'env'>,
  config: Pick<KernelsConfig, 'pythonPath'>,
  parentPid: number = process.pid,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parentEnv)) {
    if (value === undefined) continue;
    if (
      ALLOWED_PARENT_VARIABLES.includes(name) ||
      ALLOWED_PARENT_PREFIXES.some((p) => name.startsWith(p))
    ) {
      env[name] = value;
    }
  }
  const allowed = { ...env };
  for (const [name, value] of Object.entries(spec.env)) {
    // jupyter_client expands ${VAR} from its own environment; expanding from the
    // allow-listed subset keeps a spec from pulling a gateway secret in by name.
    env[name] = value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
      (_m, v: string) => allowed[v] ?? '',
    );
  }
  const pythonPath = [...config.pythonPath, ...(env.PYTHONPATH ?? '').split(':')].filter(
    (p) => p.length > 0,
  );
  if (pythonPath.length > 0) env.PYTHONPATH = [...new Set(pythonPath)].join(':');
  else delete env.PYTHONPATH;
  env.JPY_PARENT_PID = String(parentPid);
  return env;
}
