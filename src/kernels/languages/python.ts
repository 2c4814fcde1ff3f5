/**
 * The Python adapter: IPython kernels (ipykernel, and any kernel whose
 * `language_info.name` is `python` and that runs IPython's shell).
 */
import { ErrorCode, RungateError } from '../../common/errors';
import type { Relay } from '../forwarding';
import type { KernelLanguageAdapter, ParameterSchema } from './kernel-language';
import { isPythonIdentifier, toPythonLiteral } from './python-literals';

/**
 * A JSON document as a Python string literal: JSON.stringify of the JSON text is a
 * valid Python string literal (the same escapes), and its content is data for
 * `json.loads`, never code.
 */
function jsonLiteral(value: unknown): string {
  return JSON.stringify(JSON.stringify(value));
}

/**
 * Before each cell, TRACEPARENT in the environment is the trace context the gateway
 * sent with that cell's execute_request, so work the runbook does downstream (HTTP
 * calls, SQL comments) can join the command's trace.
 */
const TRACE_HOOK = [
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
].join('\n');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const pythonAdapter: KernelLanguageAdapter = {
  language: 'python',

  setEnvironment(env: Readonly<Record<string, string>>): string {
    return [
      'import os as __rg_os, json as __rg_json',
      `__rg_os.environ.update(__rg_json.loads(${jsonLiteral(env)}))`,
      'del __rg_os, __rg_json',
    ].join('\n');
  },

  traceContextHook(): string {
    return TRACE_HOOK;
  },

  warmUp(): string {
    // The helper package (urllib, http.client) and the relay, imported ahead of the session.
    return 'import json, os, rungate, rungate._forward';
  },

  /** Starts kernels/python/rungate/_forward.py: a listener per route on its loopback address. */
  startRelays(relays: readonly Relay[]): string {
    if (relays.length === 0) return '';
    const plan = relays.map((r) => ({ listen: [r.listen.host, r.listen.port], socket: r.socket }));
    return [
      'import json as __rg_json, rungate._forward as __rg_forward',
      `__rg_forward.serve(__rg_json.loads(${jsonLiteral(plan)}))`,
      'del __rg_json, __rg_forward',
      '',
    ].join('\n');
  },

  /**
   * Each value is a Python literal generated from the JSON value (ASCII-only, fully
   * escaped), never user text pasted into code; names must be Python identifiers.
   */
  renderParameters(
    values: Readonly<Record<string, unknown>>,
    schema?: ParameterSchema | null,
  ): string {
    const properties = isPlainObject(schema?.properties) ? schema.properties : {};
    const lines = ['# Parameters injected by rungate'];
    for (const [name, value] of Object.entries(values)) {
      if (!isPythonIdentifier(name)) {
        throw new RungateError(
          ErrorCode.InvalidRequest,
          `parameter name ${JSON.stringify(name)} is not a Python identifier`,
        );
      }
      const prop = properties[name];
      const asFloat = isPlainObject(prop) && prop.type === 'number';
      lines.push(`${name} = ${toPythonLiteral(value, asFloat)}`);
    }
    return `${lines.join('\n')}\n`;
  },
};
