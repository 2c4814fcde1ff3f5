import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './gateway';
import { completeDeviceLogin } from './device-flow';

/** A `rungate` CLI process (dist/cli/main.js) with its own config directory. */
export interface CliRun {
  /** Resolves when the process exits, with everything it printed. */
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first match of `pattern` in stderr so far or to come; fails at the deadline. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stdout(): string;
  stderr(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** A fresh `XDG_CONFIG_HOME` for one person's credentials. */
export function newConfigHome(): string {
  return mkdtempSync(join(tmpdir(), 'rungate-cli-'));
}

/** Runs `rungate <args>` against `gateway` with `configHome` as XDG_CONFIG_HOME; stdin is not a terminal. */
export function runCli(
  args: readonly string[],
  opts: { gateway: string; configHome: string; env?: Record<string, string> },
): CliRun {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: opts.configHome,
      XDG_CONFIG_HOME: opts.configHome,
      RUNGATE_URL: opts.gateway,
      ...opts.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const l of [...listeners]) l();
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      for (const l of [...listeners]) l();
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    done,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: (signal = 'SIGINT') => child.kill(signal),
    waitForStderr(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(stderr);
          if (m) {
            cleanup();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`rungate exited before printing ${pattern}:\n${stderr}\n${stdout}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} from rungate:\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Pattern of the sign-in prompt of `rungate login`: the verification URL and the code. */
export const DEVICE_PROMPT = /(https?:\/\/\S+\/device)\s+Code: (\S+)/;

/**
 * Signs `person` in with `rungate login` in a fresh config directory, completing the
 * device flow at the development issuer as that person would in a browser.
 */
export async function loginAs(gateway: string, person: string): Promise<string> {
  const configHome = newConfigHome();
  const login = runCli(['login'], { gateway, configHome });
  const [, verificationUri, userCode] = await login.waitForStderr(DEVICE_PROMPT);
  await completeDeviceLogin(verificationUri, userCode, person);
  const result = await login.done;
  if (result.code !== 0) {
    throw new Error(`rungate login as ${person} exited ${result.code}:\n${result.stderr}`);
  }
  return configHome;
}
