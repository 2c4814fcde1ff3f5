import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `rungate login` keeps for one gateway. */
export interface GatewayCredentials {
  /** Issuer the tokens come from (as the gateway announced it at login). */
  readonly issuer: string;
  readonly clientId: string;
  readonly accessToken: string;
  /** Absent when the issuer gave none; then an expired token means signing in again. */
  readonly refreshToken?: string;
  /** When the access token expires, in milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Who signed in, for `rungate login` to say so (from the token; not trusted for anything). */
  readonly subject?: string;
}

interface CredentialsFile {
  readonly version: 1;
  /** Keyed by the gateway URL (see {@link gatewayKey}). */
  readonly gateways: Record<string, GatewayCredentials>;
}

/**
 * `${XDG_CONFIG_HOME:-~/.config}/rungate/credentials.json`, per the XDG base directory
 * spec (an XDG_CONFIG_HOME that is not absolute is ignored, as the spec says).
 */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && xdg.startsWith('/') ? xdg : join(homedir(), '.config');
  return join(base, 'rungate', 'credentials.json');
}

/** The gateway URL as a key: no trailing slash, so `--gateway` spellings agree. */
export function gatewayKey(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Tokens on disk, readable by their owner only: the folder is 0700 and the file 0600,
 * written to a temporary file first and renamed, so a crash never leaves half a file
 * and the file never exists with wider permissions, even for a moment.
 */
export class CredentialStore {
  constructor(readonly path: string = credentialsPath()) {}

  async get(gateway: string): Promise<GatewayCredentials | undefined> {
    return (await this.read()).gateways[gatewayKey(gateway)];
  }

  async put(gateway: string, credentials: GatewayCredentials): Promise<void> {
    const file = await this.read();
    await this.write({
      ...file,
      gateways: { ...file.gateways, [gatewayKey(gateway)]: credentials },
    });
  }

  /** Forgets the gateway's tokens; answers whether there were any. */
  async remove(gateway: string): Promise<boolean> {
    const file = await this.read();
    const key = gatewayKey(gateway);
    if (!(key in file.gateways)) return false;
    const { [key]: _removed, ...rest } = file.gateways;
    if (Object.keys(rest).length === 0) await rm(this.path, { force: true });
    else await this.write({ ...file, gateways: rest });
    return true;
  }

  private async read(): Promise<CredentialsFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, gateways: {} };
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isCredentialsFile(parsed)) {
      throw new Error(
        `${this.path} is not a rungate credentials file; remove it and run rungate login`,
      );
    }
    // A copy or a restore may have widened it; tokens stay readable by their owner only.
    if (((await stat(this.path)).mode & 0o077) !== 0) await chmod(this.path, 0o600);
    return parsed;
  }

  private async write(file: CredentialsFile): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing folder's mode alone; ours holds tokens and is nobody else's.
    await chmod(dir, 0o700);
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}

function isCredentialsFile(value: unknown): value is CredentialsFile {
  if (typeof value !== 'object' || value === null) return false;
  const { version, gateways } = value as { version?: unknown; gateways?: unknown };
  if (version !== 1 || typeof gateways !== 'object' || gateways === null) return false;
  return Object.values(gateways).every(
    (g: unknown) =>
      typeof g === 'object' &&
      g !== null &&
      typeof (g as GatewayCredentials).accessToken === 'string' &&
      typeof (g as GatewayCredentials).issuer === 'string' &&
      typeof (g as GatewayCredentials).clientId === 'string' &&
      typeof (g as GatewayCredentials).expiresAt === 'number',
  );
}
