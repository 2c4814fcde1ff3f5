import { describe, expect, it } from 'vitest';
import { parseParameterAssignments, PythonLiteralError, toPythonLiteral } from './python-literals';

function values(source: string): Record<string, unknown> {
  return Object.fromEntries(parseParameterAssignments(source).map((a) => [a.name, a.value]));
}

describe('parseParameterAssignments', () => {
  it('reads ints, floats, bools, None and strings', () => {
    expect(values('a = 1\nb = -2.5\nc = True\nd = False\ne = None\nf = "x"\n')).toEqual({
      a: 1,
      b: -2.5,
      c: true,
      d: false,
      e: null,
      f: 'x',
    });
  });

  it('reads every integer and float spelling Python allows', () => {
    expect(
      values('a = 0x1F\nb = 0o17\nc = 0b101\nd = 1_000\ne = 1e3\nf = .5\ng = 5.\nh = +3\ni = 0'),
    ).toEqual({
      a: 31,
      b: 15,
      c: 5,
      d: 1000,
      e: 1000,
      f: 0.5,
      g: 5,
      h: 3,
      i: 0,
    });
  });

  it('marks float literals so they are written back as floats', () => {
    const [a, b] = parseParameterAssignments('a = 5.0\nb = 5');
    expect(a.isFloat).toBe(true);
    expect(b.isFloat).toBe(false);
  });

  it('decodes every quote form, prefix and escape', () => {
    const src = [
      `a = 'it\\'s'`,
      `b = "say \\"hi\\""`,
      `c = '''multi`,
      `line'''`,
      `d = """tri "quoted" """`,
      `e = r'C:\\new\\x'`,
      `f = u'\\u00e9\\U0001F600\\x41\\101\\q'`,
      `g = 'a' "b" 'c'`,
      `h = 'tab\\there\\nnew\\\\'`,
    ].join('\n');
    expect(values(src)).toEqual({
      a: "it's",
      b: 'say "hi"',
      c: 'multi\nline',
      d: 'tri "quoted" ',
      e: 'C:\\new\\x',
      f: 'é😀AA\\q',
      g: 'abc',
      h: 'tab\there\nnew\\',
    });
  });

  it('reads nested lists and dicts across lines, with comments inside', () => {
    const src =
      'services = [\n  "api",  # the front door\n  "worker",\n]\nlimits = {"cpu": 2, "tags": ["a", None], "x": {}}\n';
    expect(values(src)).toEqual({
      services: ['api', 'worker'],
      limits: { cpu: 2, tags: ['a', null], x: {} },
    });
  });

  it('keeps the trailing comment as the description and accepts annotations', () => {
    const [a] = parseParameterAssignments('lookback_minutes: int = 30  # how far back to look\n');
    expect(a).toMatchObject({
      name: 'lookback_minutes',
      value: 30,
      comment: 'how far back to look',
      line: 1,
    });
  });

  it.each([
    ['x = foo()', /foo is not a literal/],
    ['x = 1 + 2', /end of the statement/],
    ['x = f"{y}"', /f-strings/],
    ['x = b"raw"', /bytes/],
    ['x = (1, 2)', /tuples/],
    ['x = 1, 2', /tuples/],
    ['x = {1, 2}', /dict keys must be strings|sets/],
    ['x = {"a", "b"}', /sets/],
    ['x = 1j', /complex/],
    ['x = 010', /leading zeros/],
    ['x = 99999999999999999999', /too large/],
    ['x = "open', /unterminated string/],
    ['x = """open', /unterminated triple-quoted/],
    ['x = "a\\N{BULLET}"', /\\N\{/],
    ['import os', /os is not a literal|expected = after import|keyword/],
    ['x = 1\nx = 2', /x is assigned twice/],
    ['x += 1', /expected = after x/],
    ['print("hi")', /expected = after print/],
    ['x = y', /y is not a literal/],
    ['x = [1, 2', /expected|literal/],
  ])('refuses %j', (src, reason) => {
    expect(() => parseParameterAssignments(src)).toThrow(PythonLiteralError);
    expect(() => parseParameterAssignments(src)).toThrow(reason);
  });

  it('reports the line and column of the problem', () => {
    try {
      parseParameterAssignments('a = 1\n\nb =   open()\n');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PythonLiteralError);
      expect((err as PythonLiteralError).line).toBe(3);
      expect((err as PythonLiteralError).column).toBe(7);
    }
  });
});

describe('toPythonLiteral', () => {
  it('writes scalars the way Python spells them', () => {
    expect(toPythonLiteral(null)).toBe('None');
    expect(toPythonLiteral(true)).toBe('True');
    expect(toPythonLiteral(false)).toBe('False');
    expect(toPythonLiteral(42)).toBe('42');
    expect(toPythonLiteral(42, true)).toBe('42.0');
    expect(toPythonLiteral(0.1)).toBe('0.1');
    expect(toPythonLiteral(1e21)).toBe('1e+21');
    expect(toPythonLiteral(-0, true)).toBe('-0.0');
  });

  it('escapes strings into pure ASCII that cannot close the literal early', () => {
    const out = toPythonLiteral(`'''"""\\\n\r\t\u0000é😀\u2028`);
    expect(out).toBe(`'\\'\\'\\'"""\\\\\\n\\r\\t\\x00\\xe9\\U0001f600\\u2028'`);
    expect(/^[\x20-\x7e]*$/.test(out)).toBe(true);
  });

  it('writes lists and dicts recursively', () => {
    expect(toPythonLiteral({ 'k"': [1, 'a', null], n: { x: false } })).toBe(
      `{'k"': [1, 'a', None], 'n': {'x': False}}`,
    );
  });

  it('round-trips through the literal parser', () => {
    const nasty = {
      s: `a'b"c\\d\ne"""f'''\u0007\ud83d\ude00`,
      n: [1, -2.5, true, null],
      d: { '': '' },
    };
    const [parsed] = parseParameterAssignments(`v = ${toPythonLiteral(nasty)}`);
    expect(parsed.value).toEqual(nasty);
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => toPythonLiteral(Number.NaN)).toThrow(TypeError);
    expect(() => toPythonLiteral(undefined)).toThrow(TypeError);
  });
});
