import { describe, expect, it } from 'vitest';
import { parseProcCgroup, readCounter } from './cgroups';

describe('parseProcCgroup', () => {
  it('maps each v1 controller and the v2 hierarchy to its path', () => {
    const paths = parseProcCgroup(
      '9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/user.slice\n',
    );
    expect(paths.get('memory')).toBe('/process_api/abc');
    expect(paths.get('cpuacct')).toBe('/x');
    expect(paths.get('cpu')).toBe('/x');
    expect(paths.get('')).toBe('/user.slice');
  });
});

describe('readCounter', () => {
  it('reads one key of a flat keyed file, 0 when absent', () => {
    const text = 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n';
    expect(readCounter(text, 'oom_kill')).toBe(3);
    expect(readCounter('max 0\n', 'oom_kill')).toBe(0);
  });
});
