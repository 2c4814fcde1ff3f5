import { mkdtemp, readFile, rm, stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialStore, credentialsPath, type GatewayCredentials } from './credentials';

const creds = (over: Partial<GatewayCredentials> = {}): GatewayCredentials => ({
  issuer: 'http://127.0.0.1:8081/dev-oidc',
  clientId: 'rungate-cli',
  accessToken: 'at',
  refreshToken: 'rt',
  expiresAt: 1_900_000_000_000,
  subject: 'alice',
  ...over,
});

describe(credentialsPath.name, () => {
  it('follows XDG_CONFIG_HOME, and ignores a relative one as the spec says', () => {
    expect(credentialsPath({ XDG_CONFIG_HOME: '/x/config' })).toBe(
      '/x/config/rungate/credentials.json',
    );
    expect(credentialsPath({ XDG_CONFIG_HOME: 'relative' })).toMatch(
      /\/\.config\/rungate\/credentials\.json$/,
    );
    expect(credentialsPath({})).toMatch(/\/\.config\/rungate\/credentials\.json$/);
  });
});

describe(CredentialStore.name, () => {
  let dir: string;
  let store: CredentialStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-creds-'));
    store = new CredentialStore(join(dir, 'rungate', 'credentials.json'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps tokens per gateway in a 0600 file in a 0700 folder', async () => {
    await store.put('http://gw-a:8080/', creds());
    await store.put('http://gw-b:8080', creds({ accessToken: 'other' }));
    expect(await store.get('http://gw-a:8080')).toEqual(creds());
    expect((await store.get('http://gw-b:8080'))?.accessToken).toBe('other');
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'rungate'))).mode & 0o777).toBe(0o700);
  });

  it('tightens a folder that was left open to others', async () => {
    await mkdir(join(dir, 'rungate'), { mode: 0o755 });
    await chmod(join(dir, 'rungate'), 0o755);
    await store.put('http://gw', creds());
    expect((await stat(join(dir, 'rungate'))).mode & 0o777).toBe(0o700);
  });

  it('narrows a credentials file that others can read when it reads it', async () => {
    await store.put('http://gw', creds());
    await chmod(store.path, 0o644);
    expect(await store.get('http://gw')).toEqual(creds());
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it('forgets one gateway, and removes the file with the last one', async () => {
    await store.put('http://gw-a', creds());
    await store.put('http://gw-b', creds());
    expect(await store.remove('http://gw-a')).toBe(true);
    expect(await store.get('http://gw-a')).toBeUndefined();
    expect(await store.remove('http://gw-a')).toBe(false);
    expect(await store.remove('http://gw-b')).toBe(true);
    await expect(stat(store.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a file that is not its own, saying what to do', async () => {
    await mkdir(join(dir, 'rungate'), { recursive: true });
    await writeFile(store.path, '{"tokens": []}');
    await expect(store.get('http://gw')).rejects.toThrow(
      /not a rungate credentials file.*rungate login/,
    );
    expect(await readFile(store.path, 'utf8')).toBe('{"tokens": []}');
  });

  it('answers nothing before the first login', async () => {
    expect(await store.get('http://gw')).toBeUndefined();
  });
});
