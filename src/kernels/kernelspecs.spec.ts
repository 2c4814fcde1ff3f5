import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverKernelSpecs, kernelSearchDirs, parseKernelSpec } from './kernelspecs';

const valid = {
  argv: ['python', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
  display_name: 'Python 3',
  language: 'python',
};

describe('parseKernelSpec', () => {
  it('reads argv, display_name, language, interrupt_mode and env', () => {
    const result = parseKernelSpec('Python3', '/specs/python3', {
      ...valid,
      interrupt_mode: 'message',
      env: { A: 'b' },
    });
    expect(result).toEqual({
      spec: {
        name: 'python3',
        displayName: 'Python 3',
        language: 'python',
        argv: valid.argv,
        interruptMode: 'message',
        env: { A: 'b' },
        resourceDir: '/specs/python3',
        metadata: {},
      },
    });
  });

  it('defaults interrupt_mode to signal', () => {
    const result = parseKernelSpec('py', '/d', valid);
    expect('spec' in result && result.spec.interruptMode).toBe('signal');
  });

  it.each([
    ['argv missing', { ...valid, argv: undefined }, /argv/],
    ['argv without {connection_file}', { ...valid, argv: ['python'] }, /connection_file/],
    ['display_name missing', { ...valid, display_name: '' }, /display_name/],
    ['language not a string', { ...valid, language: 3 }, /language/],
    ['unknown interrupt_mode', { ...valid, interrupt_mode: 'telepathy' }, /interrupt_mode/],
    ['env with a non-string value', { ...valid, env: { A: 1 } }, /env/],
    ['not an object', [1, 2], /object/],
  ])('reports %s', (_what, doc, problem) => {
    const result = parseKernelSpec('py', '/d', doc);
    expect('problem' in result && result.problem).toMatch(problem);
  });

  it('refuses a directory name Jupyter would refuse', () => {
    expect(parseKernelSpec('bad name!', '/d', valid)).toMatchObject({
      problem: expect.stringMatching(/invalid kernel name/),
    });
  });
});

describe('discoverKernelSpecs', () => {
  let root: string;
  const write = (dir: string, name: string, content: string): void => {
    mkdirSync(join(root, dir, name), { recursive: true });
    writeFileSync(join(root, dir, name, 'kernel.json'), content);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rungate-specs-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('prefers the earlier directory when two hold the same name', () => {
    write('first', 'python3', JSON.stringify({ ...valid, display_name: 'First' }));
    write('second', 'python3', JSON.stringify({ ...valid, display_name: 'Second' }));
    write('second', 'other', JSON.stringify({ ...valid, display_name: 'Other' }));
    const { specs, problems } = discoverKernelSpecs([join(root, 'first'), join(root, 'second')]);
    expect(specs.get('python3')?.displayName).toBe('First');
    expect(specs.get('other')?.displayName).toBe('Other');
    expect(problems).toEqual([]);
  });

  it('reports invalid specs without failing, and skips missing directories', () => {
    write('d', 'broken', '{ nope');
    write('d', 'incomplete', JSON.stringify({ argv: ['x', '{connection_file}'] }));
    write('d', 'good', JSON.stringify(valid));
    const { specs, problems } = discoverKernelSpecs([join(root, 'missing'), join(root, 'd')]);
    expect([...specs.keys()]).toEqual(['good']);
    expect(problems.map((p) => p.path)).toEqual([
      join(root, 'd', 'broken', 'kernel.json'),
      join(root, 'd', 'incomplete', 'kernel.json'),
    ]);
  });
});

describe('kernelSearchDirs', () => {
  it('puts configured dirs first, then JUPYTER_PATH, user data, and system dirs', () => {
    expect(kernelSearchDirs(['/cfg'], { JUPYTER_PATH: '/jp1:/jp2' }, '/home/u')).toEqual([
      '/cfg',
      '/jp1/kernels',
      '/jp2/kernels',
      '/home/u/.local/share/jupyter/kernels',
      '/usr/local/share/jupyter/kernels',
      '/usr/share/jupyter/kernels',
    ]);
  });
});
