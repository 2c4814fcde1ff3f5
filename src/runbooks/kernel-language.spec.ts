import { describe, expect, it } from 'vitest';
import { checkKernelLanguage } from './kernel-language';
import { parseNotebook } from './notebook';
import type { Runbook } from './runbooks.types';

/** A valid runbook on kernelspec `kernel`. */
function newRunbook(kernel: string): Runbook {
  const entry = parseNotebook(
    'shop/stuck-jobs',
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: { name: kernel, display_name: kernel },
        rungate: {
          title: 'Stuck jobs',
          description: '',
          owner: 'sre',
          targets: ['demo-shop'],
          environment: 'prod',
        },
      },
      cells: [
        {
          id: 'a',
          cell_type: 'code',
          metadata: {},
          source: 'x = 1',
          outputs: [],
          execution_count: null,
        },
      ],
    }),
    { defaultKernel: 'python3', path: '/runbooks/shop/stuck-jobs.ipynb' },
  );
  if (!entry.valid) throw new Error(entry.reason);
  return entry;
}

const LANGUAGES = new Map([
  ['python3', 'python'],
  ['xpython', 'Python'],
  ['ir', 'R'],
]);

describe('checkKernelLanguage', () => {
  it('keeps a runbook whose kernelspec language has an adapter', () => {
    const runbook = newRunbook('python3');
    expect(checkKernelLanguage(runbook, LANGUAGES)).toBe(runbook);
    const other = newRunbook('xpython');
    expect(checkKernelLanguage(other, LANGUAGES)).toBe(other);
  });

  it('finds the kernelspec whatever the case of its name in the notebook', () => {
    const runbook = newRunbook('IR');
    expect(checkKernelLanguage(runbook, LANGUAGES)).toMatchObject({ valid: false });
  });

  it('marks a runbook invalid when its kernelspec language has no adapter', () => {
    expect(checkKernelLanguage(newRunbook('ir'), LANGUAGES)).toEqual({
      valid: false,
      id: 'shop/stuck-jobs',
      path: '/runbooks/shop/stuck-jobs.ipynb',
      reason: 'no kernel-language adapter for R; rungate supports: python',
    });
  });

  it('leaves a runbook whose kernelspec is not installed as it is', () => {
    const runbook = newRunbook('missing');
    expect(checkKernelLanguage(runbook, LANGUAGES)).toBe(runbook);
    expect(checkKernelLanguage(runbook, new Map())).toBe(runbook);
  });
});
