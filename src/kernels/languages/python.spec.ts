import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../../common/errors';
import type { Relay } from '../forwarding';
import { pythonAdapter } from './python';

/**
 * A double-quoted Python string literal that is one token: no unescaped quote before
 * its end, no raw line break, every backslash starting an escape.
 */
const ONE_STRING_TOKEN = /^"(?:[^"\\\n\r]|\\.)*"$/;

/** Values that would become code if they were pasted into the source. */
const HOSTILE = [
  '"))\nimport os; os.system("id")  #',
  "'''\n__import__('os').system('id')\n'''",
  '\\"); exec("1") #',
  'line\r\nbreak\u2028sep\u2029',
  'nul\u0000 del\u007f é 😀 \ud800',
  '${x} {0} %s',
];

/** Splits generated code at its one JSON literal: the code around it and the value it holds. */
function splitAtLiteral(code: string, before: string, after: string) {
  const start = code.indexOf(before);
  const end = code.indexOf(after, start + before.length);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  const literal = code.slice(start + before.length, end);
  return {
    template: code.slice(0, start + before.length) + '<LITERAL>' + code.slice(end),
    literal,
    value: JSON.parse(JSON.parse(literal) as string) as unknown,
  };
}

describe('pythonAdapter', () => {
  describe('setEnvironment', () => {
    it('updates os.environ from a JSON literal (the code sessions ran as its prelude)', () => {
      expect(pythonAdapter.setEnvironment({ PGHOST: 'db', RUNGATE_SESSION_ID: 's-1' })).toBe(
        [
          'import os as __rg_os, json as __rg_json',
          '__rg_os.environ.update(__rg_json.loads("{\\"PGHOST\\":\\"db\\",\\"RUNGATE_SESSION_ID\\":\\"s-1\\"}"))',
          'del __rg_os, __rg_json',
        ].join('\n'),
      );
    });

    it('never splices a name or value into the code', () => {
      const env = Object.fromEntries(HOSTILE.map((v, i) => [`V${i}${v}`, v]));
      const { template, literal, value } = splitAtLiteral(
        pythonAdapter.setEnvironment(env),
        '__rg_json.loads(',
        '))\ndel',
      );
      expect(template).toBe(pythonAdapter.setEnvironment({}).replace('"{}"', '<LITERAL>'));
      expect(literal).toMatch(ONE_STRING_TOKEN);
      expect(value).toEqual(env);
    });
  });

  describe('traceContextHook', () => {
    it('registers a pre_run_cell hook that copies metadata.traceparent into TRACEPARENT', () => {
      expect(pythonAdapter.traceContextHook()).toBe(
        [
          'def __rg_traceparent(*_):',
          '    import os',
          '    try:',
          '        tp = (get_ipython().kernel.get_parent().get("metadata") or {}).get("traceparent")',
          '    except Exception:',
          '        tp = None',
          '    if tp:',
          '        os.environ["TRACEPARENT"] = tp',
          '    else:',
          '        os.environ.pop("TRACEPARENT", None)',
          'get_ipython().events.register("pre_run_cell", __rg_traceparent)',
        ].join('\n'),
      );
    });
  });

  describe('startRelays', () => {
    it('is empty without relays', () => {
      expect(pythonAdapter.startRelays([])).toBe('');
    });

    it('starts rungate._forward with the relays as a JSON literal', () => {
      const relays: Relay[] = [
        { listen: { host: '127.0.10.2', port: 5432 }, socket: '/run/rg/k1/fwd-0.sock' },
        { listen: { host: '127.0.10.3', port: 18080 }, socket: '/run/rg/k1/fwd-1.sock' },
      ];
      expect(pythonAdapter.startRelays(relays)).toBe(
        [
          'import json as __rg_json, rungate._forward as __rg_forward',
          '__rg_forward.serve(__rg_json.loads("[{\\"listen\\":[\\"127.0.10.2\\",5432],\\"socket\\":\\"/run/rg/k1/fwd-0.sock\\"},{\\"listen\\":[\\"127.0.10.3\\",18080],\\"socket\\":\\"/run/rg/k1/fwd-1.sock\\"}]"))',
          'del __rg_json, __rg_forward',
          '',
        ].join('\n'),
      );
    });

    it('never splices a socket path or host into the code', () => {
      const relays: Relay[] = HOSTILE.map((v, i) => ({
        listen: { host: v, port: 1000 + i },
        socket: `/run/${v}.sock`,
      }));
      const code = pythonAdapter.startRelays(relays);
      const { template, literal, value } = splitAtLiteral(code, '__rg_json.loads(', '))\ndel');
      const one = pythonAdapter.startRelays([{ listen: { host: 'h', port: 1 }, socket: 's' }]);
      expect(template).toBe(
        one.replace(JSON.stringify('[{"listen":["h",1],"socket":"s"}]'), '<LITERAL>'),
      );
      expect(literal).toMatch(ONE_STRING_TOKEN);
      expect(value).toEqual(
        relays.map((r) => ({ listen: [r.listen.host, r.listen.port], socket: r.socket })),
      );
    });
  });

  describe('renderParameters', () => {
    const schema = {
      type: 'object',
      properties: { ratio: { type: 'number' }, count: { type: 'integer' } },
    };

    it('writes one assignment per value, in order, with Python literals', () => {
      expect(
        pythonAdapter.renderParameters(
          { count: 5, ratio: 2, name: "o'brien", tags: ['a', 'b'], opts: { x: null, y: true } },
          schema,
        ),
      ).toBe(
        [
          '# Parameters injected by rungate',
          'count = 5',
          'ratio = 2.0',
          "name = 'o\\'brien'",
          "tags = ['a', 'b']",
          "opts = {'x': None, 'y': True}",
          '',
        ].join('\n'),
      );
    });

    it('writes whole numbers as ints without a schema', () => {
      expect(pythonAdapter.renderParameters({ ratio: 2 })).toBe(
        '# Parameters injected by rungate\nratio = 2\n',
      );
      expect(pythonAdapter.renderParameters({ ratio: 2 }, null)).toBe(
        '# Parameters injected by rungate\nratio = 2\n',
      );
    });

    it('keeps every value on its own line as one escaped ASCII literal', () => {
      const values = Object.fromEntries(HOSTILE.map((v, i) => [`p${i}`, v]));
      const lines = pythonAdapter.renderParameters(values).split('\n');
      expect(lines).toHaveLength(HOSTILE.length + 2);
      HOSTILE.forEach((_, i) => {
        expect(lines[i + 1]).toMatch(new RegExp(`^p${i} = '(?:[^'\\\\\\n\\r]|\\\\.)*'$`));
        expect(lines[i + 1]).toMatch(/^[\x20-\x7e]*$/);
      });
    });

    it('refuses a name that is not a Python identifier', () => {
      for (const name of ['a=1;import os;b', 'class', '1x', 'ünï']) {
        expect(() => pythonAdapter.renderParameters({ [name]: 1 })).toThrow(
          expect.objectContaining({ code: ErrorCode.InvalidRequest }),
        );
      }
      expect(() => pythonAdapter.renderParameters({ class: 1 })).toThrow(RungateError);
      expect(() => pythonAdapter.renderParameters({ class: 1 })).toThrow(/not a Python identifier/);
    });
  });
});
