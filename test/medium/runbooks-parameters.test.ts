import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildParameterSpec,
  renderParametersCell,
  validateParameters,
} from '../../src/runbooks/parameters';
import { parseParameterAssignments } from '../../src/runbooks/python-literals';

const ROOT = resolve(__dirname, '..', '..');
const PYTHON = resolve(ROOT, '.cache/venv/bin/python');
const run = promisify(execFile);

/** Runs `code` in the real Python of the kernels and answers what it printed. */
async function python(code: string): Promise<string> {
  const { stdout } = await run(PYTHON, ['-I', '-c', code], {
    env: { PATH: process.env.PATH ?? '' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** Executes `source` in Python and answers the named variables, as JSON. */
async function evaluate(source: string, names: string[]): Promise<Record<string, unknown>> {
  const program = `${source}\nimport json as _j, sys as _s\n_s.stdout.write(_j.dumps({n: globals()[n] for n in ${JSON.stringify(names)}}))\n`;
  return JSON.parse(await python(program)) as Record<string, unknown>;
}

const NASTY_STRINGS = [
  '',
  "it's",
  'say "hi"',
  '"""; import os; os.system("id"); """',
  "'''; raise SystemExit(3); '''",
  'back\\slash\\',
  '\\x41 is not A, \\n is not a newline',
  'line one\nline two\r\nthree\ttab',
  'nul\u0000bell\u0007del\u007f',
  'é ñ ü ß — “quotes” ‘single’',
  '😀 🇫🇷 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\u2028\u2029 line separators',
  'lone surrogate \ud800 here',
  '{"json": ["inside", 1]}',
  '#!comment # not a comment',
  '\\',
];

describe('renderParametersCell', () => {
  beforeAll(() => {
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/bootstrap.sh`);
  });

  it('delivers hostile strings to Python unchanged', async () => {
    const values = Object.fromEntries(NASTY_STRINGS.map((s, i) => [`s${i}`, s]));
    const back = await evaluate(renderParametersCell(values), Object.keys(values));
    expect(back).toEqual(values);
  });

  it('delivers numbers, booleans, None, lists and dicts unchanged, floats as floats', async () => {
    const spec = buildParameterSpec(
      'p',
      'ratio = 0.5\ncount = 3\nflag = False\nnothing = None\nitems = []\nopts = {}',
      undefined,
    );
    const values = validateParameters(
      { id: 'x', parameters: spec },
      {
        ratio: 2,
        count: -9007199254740991,
        flag: true,
        nothing: { 'k"\'\\': [null, 1.5e-7, 'x\ny'] },
        items: [1, [2, [3, {}]], 'é'],
        opts: { __class__: 1, '': '' },
      },
    );
    const source = renderParametersCell(values, spec);
    const back = await evaluate(source, Object.keys(values));
    expect(back).toEqual(values);
    const types = await python(
      `${source}\nprint(type(ratio).__name__, type(count).__name__, type(flag).__name__)`,
    );
    expect(types.trim()).toBe('float int bool');
  });

  it('never lets a value run code: the rendered cell only assigns', async () => {
    const values = { a: "'); import sys; sys.exit(7); ('", b: '"""\nimport sys\nsys.exit(8)\n"""' };
    const out = await python(`${renderParametersCell(values)}\nprint("survived")`);
    expect(out.trim()).toBe('survived');
  });
});

describe('parseParameterAssignments', () => {
  it('reads the same values real Python computes from a parameters cell', async () => {
    const source = [
      "a = 'single'  # comment",
      'b = "double \\" quote"',
      "c = '''triple\nsingle'''",
      'd = """triple\n\\tdouble"""',
      "e = r'raw\\n\\d'",
      "f = u'\\u00e9\\U0001F600\\x41\\101\\q'",
      "g = 'con' \"cat\" '''enated'''",
      'h = 0x_ff',
      'i = 1_000.5e-3',
      'j = -.25',
      'k = [1, "two", None, True, {"x": [False]}]',
      "l = {'a': 1, 'b': [2.0, 'c'],  # inner comment\n     'd': {}}",
      'm: int = 7',
      'n = 0o777',
      'o = 0b1010',
      'p = 5.',
      "q = 'back\\\nslash-newline'",
      "r = ''",
    ].join('\n');
    const parsed = parseParameterAssignments(source);
    const ours = Object.fromEntries(parsed.map((a) => [a.name, a.value]));
    const theirs = await evaluate(source, Object.keys(ours));
    expect(ours).toEqual(theirs);
  });
});
