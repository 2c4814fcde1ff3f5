import { describe, expect, it } from 'vitest';
import { kernelEnvironment } from './environment';

const gateway = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/rungate',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TZ: 'UTC',
  TMPDIR: '/tmp',
  DATABASE_URL: 'postgres://u:secret@db/x',
  OIDC_CLIENT_SECRET: 'oidc',
  KAFKA_BROKERS: 'k:9092',
  AWS_SECRET_ACCESS_KEY: 'aws',
  PYTHONPATH: '/gateway/leak',
  NODE_OPTIONS: '--inspect',
};

describe('kernelEnvironment', () => {
  it('passes only allow-listed variables of the gateway', () => {
    const env = kernelEnvironment(gateway, { env: {} }, { pythonPath: [] }, 4242);
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/home/rungate',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      TMPDIR: '/tmp',
      JPY_PARENT_PID: '4242',
    });
  });

  it("adds the spec's env and the configured PYTHONPATH before the spec's", () => {
    const env = kernelEnvironment(
      gateway,
      { env: { MPLBACKEND: 'agg', PYTHONPATH: '/spec/lib' } },
      { pythonPath: ['/rungate/py'] },
      1,
    );
    expect(env.MPLBACKEND).toBe('agg');
    expect(env.PYTHONPATH).toBe('/rungate/py:/spec/lib');
  });

  it('expands ${VAR} in the spec env from allow-listed variables only', () => {
    const env = kernelEnvironment(
      gateway,
      { env: { X: '${HOME}/x', Y: '${DATABASE_URL}' } },
      { pythonPath: [] },
      1,
    );
    expect(env.X).toBe('/home/rungate/x');
    expect(env.Y).toBe('');
  });

  it('does not let the spec override JPY_PARENT_PID', () => {
    const env = kernelEnvironment(
      gateway,
      { env: { JPY_PARENT_PID: '1' } },
      { pythonPath: [] },
      99,
    );
    expect(env.JPY_PARENT_PID).toBe('99');
  });

  it('defaults JPY_PARENT_PID to the gateway process', () => {
    expect(kernelEnvironment({}, { env: {} }, { pythonPath: [] }).JPY_PARENT_PID).toBe(
      String(process.pid),
    );
  });
});
