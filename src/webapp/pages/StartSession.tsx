import { useState } from 'preact/hooks';
import { ClassBadge, Code, Markdown } from '../components/Cells';
import { RunbookFacts } from '../components/RunbookFacts';
import { ErrorBox, Loading } from '../components/States';
import { ApiError, api, describeError, encodePath } from '../lib/api';
import { shortHash } from '../lib/format';
import { Link, navigate } from '../lib/router';
import { useAsync } from '../lib/use-async';
import type { JsonSchema, RunbookDetail, SessionDetail } from '../lib/types';

// Starting a session: reason, incident and the runbook's parameters as a form typed
// from its JSON Schema; below, the cells it will run.

export function StartSession({ id }: { id: string }) {
  const runbook = useAsync(
    (signal) => api<RunbookDetail>(`/v1/runbooks/${encodePath(id)}`, { signal }),
    [id],
  );
  if (runbook.error !== undefined) return <ErrorBox error={runbook.error} retry={runbook.reload} />;
  if (runbook.data === undefined) return <Loading what="runbook" />;
  const r = runbook.data;
  return (
    <>
      <p class="crumbs">
        <Link href="/">Runbooks</Link> / <span class="mono">{r.id}</span>
      </p>
      <h1>{r.title}</h1>
      <p>{r.description}</p>
      <RunbookFacts runbook={r} inline>
        <div>
          <dt>Version</dt>
          <dd class="mono" title={r.version}>
            {shortHash(r.version)}
          </dd>
        </div>
      </RunbookFacts>
      <StartForm runbook={r} />
      <section aria-labelledby="steps-heading">
        <h2 id="steps-heading">What it runs</h2>
        <ol class="notebook preview">
          {r.cells.map((c) => (
            <li key={c.id} class={`cell ${c.type}`}>
              {c.type === 'markdown' ? (
                <Markdown source={c.source} />
              ) : (
                c.type === 'code' && (
                  <>
                    <div class="cell-head">
                      <span class="mono">{c.id}</span> <ClassBadge cls={c.class} />
                    </div>
                    <Code source={c.source} label={`Code of ${c.id}`} />
                  </>
                )
              )}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

/** The kind of input a parameter gets, from its JSON Schema (or its default's type). */
type FieldKind = 'boolean' | 'integer' | 'number' | 'string' | 'enum' | 'json';

function fieldKind(schema: JsonSchema, def: unknown): FieldKind {
  if (Array.isArray(schema.enum)) return 'enum';
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  switch (t ?? typeof def) {
    case 'boolean':
      return 'boolean';
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    default:
      return 'json';
  }
}

function initialText(kind: FieldKind, def: unknown): string {
  if (kind === 'json') return def === null || def === undefined ? '' : JSON.stringify(def);
  if (kind === 'enum') return JSON.stringify(def ?? null);
  return def === null || def === undefined ? '' : String(def);
}

function StartForm({ runbook }: { runbook: RunbookDetail }) {
  const spec = runbook.parameters;
  const props = spec?.schema.properties ?? {};
  const names = Object.keys(props);
  const [values, setValues] = useState<Record<string, string | boolean>>(() =>
    Object.fromEntries(
      names.map((n) => {
        const kind = fieldKind(props[n], spec?.defaults[n]);
        return [
          n,
          kind === 'boolean' ? Boolean(spec?.defaults[n]) : initialText(kind, spec?.defaults[n]),
        ];
      }),
    ),
  );
  const [reason, setReason] = useState('');
  const [incident, setIncident] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const parameters: Record<string, unknown> = {};
    for (const n of names) {
      const kind = fieldKind(props[n], spec?.defaults[n]);
      const v = values[n];
      try {
        parameters[n] = parseField(kind, v);
      } catch (err) {
        setError(`${n}: ${(err as Error).message}`);
        return;
      }
    }
    setBusy(true);
    try {
      const s = await api<SessionDetail>('/v1/sessions', {
        body: {
          runbook: runbook.id,
          version: runbook.version,
          parameters,
          reason,
          ...(incident.trim() ? { incident: incident.trim() } : {}),
        },
      });
      navigate(`/sessions/${s.id}`);
    } catch (err) {
      setError(problemText(err));
      setBusy(false);
    }
  };

  return (
    <form class="panel start" onSubmit={submit} aria-labelledby="start-heading">
      <h2 id="start-heading">Start a session</h2>
      <div class="field">
        <label for="reason">Reason</label>
        <input
          id="reason"
          name="reason"
          required
          minLength={3}
          maxLength={2000}
          value={reason}
          placeholder="Why you run it: the alert, the ticket"
          onInput={(e) => setReason(e.currentTarget.value)}
          autoFocus
        />
      </div>
      <div class="field">
        <label for="incident">Incident (optional)</label>
        <input
          id="incident"
          name="incident"
          maxLength={200}
          value={incident}
          placeholder="INC-4711"
          onInput={(e) => setIncident(e.currentTarget.value)}
        />
      </div>
      {names.length > 0 && (
        <fieldset>
          <legend>Parameters</legend>
          {names.map((n) => (
            <ParameterField
              key={n}
              name={n}
              schema={props[n]}
              def={spec?.defaults[n]}
              required={spec?.schema.required?.includes(n) ?? false}
              value={values[n]}
              onChange={(v) => setValues((old) => ({ ...old, [n]: v }))}
            />
          ))}
        </fieldset>
      )}
      {error && (
        <p role="alert" class="inline-error">
          {error}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Starting…' : 'Start session'}
      </button>
    </form>
  );
}

function parseField(kind: FieldKind, v: string | boolean): unknown {
  switch (kind) {
    case 'boolean':
      return v === true;
    case 'integer':
    case 'number': {
      const n = Number(v);
      if (String(v).trim() === '' || !Number.isFinite(n)) throw new Error('enter a number');
      if (kind === 'integer' && !Number.isInteger(n)) throw new Error('enter a whole number');
      return n;
    }
    case 'string':
      return String(v);
    case 'enum':
      return JSON.parse(String(v));
    case 'json':
      if (String(v).trim() === '') return null;
      try {
        return JSON.parse(String(v));
      } catch {
        throw new Error('enter a JSON value (e.g. ["a", "b"] or {"k": 1})');
      }
  }
}

function ParameterField({
  name,
  schema,
  def,
  required,
  value,
  onChange,
}: {
  name: string;
  schema: JsonSchema;
  def: unknown;
  required: boolean;
  value: string | boolean;
  onChange: (v: string | boolean) => void;
}) {
  const kind = fieldKind(schema, def);
  const fid = `param-${name}`;
  const hint = [
    schema.description,
    schema.minimum !== undefined ? `min ${schema.minimum}` : '',
    schema.maximum !== undefined ? `max ${schema.maximum}` : '',
    schema.pattern ? `format ${schema.pattern}` : '',
    def !== undefined && def !== null && kind !== 'boolean' ? `default ${JSON.stringify(def)}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const described = hint ? `${fid}-hint` : undefined;
  const label = (
    <label for={fid} class="mono">
      {name}
      {required && <span aria-label="required"> *</span>}
    </label>
  );
  let input;
  switch (kind) {
    case 'boolean':
      return (
        <div class="field check">
          <input
            id={fid}
            type="checkbox"
            checked={value === true}
            aria-describedby={described}
            onChange={(e) => onChange(e.currentTarget.checked)}
          />
          {label}
          {hint && (
            <small id={described} class="hint">
              {hint}
            </small>
          )}
        </div>
      );
    case 'enum':
      input = (
        <select
          id={fid}
          value={String(value)}
          aria-describedby={described}
          onChange={(e) => onChange(e.currentTarget.value)}
        >
          {(schema.enum ?? []).map((opt) => (
            <option key={JSON.stringify(opt)} value={JSON.stringify(opt)}>
              {typeof opt === 'string' ? opt : JSON.stringify(opt)}
            </option>
          ))}
        </select>
      );
      break;
    case 'integer':
    case 'number':
      input = (
        <input
          id={fid}
          type="number"
          inputMode={kind === 'integer' ? 'numeric' : 'decimal'}
          step={kind === 'integer' ? 1 : 'any'}
          min={schema.minimum}
          max={schema.maximum}
          required
          value={String(value)}
          aria-describedby={described}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
      );
      break;
    case 'string':
      input = (
        <input
          id={fid}
          type="text"
          maxLength={schema.maxLength}
          required={required}
          value={String(value)}
          aria-describedby={described}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
      );
      break;
    case 'json':
      input = (
        <textarea
          id={fid}
          class="mono"
          rows={2}
          value={String(value)}
          aria-describedby={described}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
      );
      break;
  }
  return (
    <div class="field">
      {label}
      {input}
      {hint && (
        <small id={described} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** A problem's detail with its field errors, when the gateway lists them. */
function problemText(err: unknown): string {
  if (err instanceof ApiError) {
    const errors = err.problem.errors ?? err.problem.details;
    if (Array.isArray(errors) && errors.length > 0) {
      return `${err.message}: ${errors.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('; ')}`;
    }
  }
  return describeError(err);
}
