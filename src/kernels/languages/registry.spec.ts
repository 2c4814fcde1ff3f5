import { describe, expect, it } from 'vitest';
import { pythonAdapter } from './python';
import { adapterFor, noAdapterReason, supportedLanguages } from './registry';

describe('adapterFor', () => {
  it('finds the Python adapter from language_info or a kernelspec language', () => {
    expect(adapterFor({ name: 'python' })).toBe(pythonAdapter);
    expect(adapterFor({ name: 'python', version: '3.12.3', mimetype: 'text/x-python' })).toBe(
      pythonAdapter,
    );
    expect(adapterFor('python')).toBe(pythonAdapter);
  });

  it('compares names case-insensitively', () => {
    expect(adapterFor('Python')).toBe(pythonAdapter);
    expect(adapterFor({ name: ' PYTHON ' })).toBe(pythonAdapter);
  });

  it('has none for other languages', () => {
    for (const language of ['R', 'julia', 'scala', 'bash', 'python3', '']) {
      expect(adapterFor(language)).toBeUndefined();
      expect(adapterFor({ name: language })).toBeUndefined();
    }
  });
});

describe('supportedLanguages', () => {
  it('lists the languages with an adapter', () => {
    expect(supportedLanguages()).toEqual(['python']);
  });
});

describe('noAdapterReason', () => {
  it('names the language and what is supported', () => {
    expect(noAdapterReason('R')).toBe('no kernel-language adapter for R; rungate supports: python');
  });
});
