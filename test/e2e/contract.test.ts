import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';

/**
 * The published OpenAPI document is the contract: schemathesis (from PyPI, installed
 * into .cache/schemathesis by scripts/install-schemathesis.sh) generates requests from
 * `/openapi.json` and runs every one of its checks on the answers: no server error, no
 * undeclared status, content type or header, bodies that match their schemas, schema-
 * valid requests accepted and invalid ones refused, 405 with `Allow` for undeclared
 * methods, and requests without credentials refused. It does so as several demo people,
 * because what an answer is depends on who asks (alice runs sessions, bob also reviews,
 * carol reads the audit trail, dave only approves, mallory may do nothing).
 *
 * Bounded in time for a 2-core machine: a handful of examples per operation, and at
 * most a few sessions (each holds a real kernel) per person.
 */

const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'mallory'] as const;
type Person = (typeof PEOPLE)[number];

/** Fixed so a failure reproduces (`st replay` or the same seed); CONTRACT_SEED varies it. */
const SEED = process.env.CONTRACT_SEED ?? '20261202';
const EXAMPLES = process.env.CONTRACT_MAX_EXAMPLES ?? '6';
const INSTALL_TIMEOUT = 300_000;
const RUN_TIMEOUT = 170_000;

/**
 * Checks configured, not disabled. `positive_data_acceptance` expects a schema-valid
 * request to be accepted unless it names something missing (404), conflicts with state
 * (409) or is refused for who asks (401/403). Three operations check a request against
 * something a document cannot express, and answer 400 to schema-valid requests, so 400
 * is expected there too: a session's `parameters` must fit the parameter schema of the
 * runbook it names; a cell run must name a code cell (break-glass: a mutating one); an
 * audit `cursor` must be one the gateway issued (it is opaque and tamper-checked).
 */
const CONFIG = `
[[operations]]
include-name = "POST /v1/sessions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name = "POST /v1/sessions/{id}/cells/{cellId}/execute"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name = "GET /v1/audit/events"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
`;

/** What each person's run covers: everyone everything, the cheap people in one phase. */
const RUNS: ReadonlyArray<{
  who: Person;
  phases: string;
  config: 'schemathesis' | 'reviewers' | 'auditor';
  args?: readonly string[];
}> = [
  { who: 'alice', phases: 'examples,coverage,fuzzing', config: 'schemathesis' },
  {
    who: 'bob',
    phases: 'examples,coverage,fuzzing',
    config: 'reviewers',
    args: ['--include-tag', 'approvals'],
  },
  {
    who: 'carol',
    phases: 'examples,coverage,fuzzing',
    config: 'auditor',
    args: ['--include-method', 'GET'],
  },
  { who: 'dave', phases: 'coverage', config: 'reviewers' },
  { who: 'mallory', phases: 'coverage', config: 'schemathesis' },
];

const execFileP = promisify(execFile);

/** The `st` executable, installed on first use and reused while its requirements hold. */
async function installSchemathesis(): Promise<string> {
  const { stdout } = await execFileP('bash', [join(ROOT, 'scripts', 'install-schemathesis.sh')], {
    cwd: ROOT,
    timeout: INSTALL_TIMEOUT,
  });
  return stdout.trim().split('\n').pop() ?? '';
}

interface OpenApiOperation {
  responses: Record<string, { content?: Record<string, unknown> }>;
  security?: unknown[];
}

interface StResult {
  readonly label: string;
  readonly code: number | null;
  readonly output: string;
}

/** Runs `st` to its end (it has its own time budget) and keeps all it printed. */
function st(bin: string, label: string, args: readonly string[], cwd: string): Promise<StResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, NO_COLOR: '1', COLUMNS: '120' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ label, code, output }));
  });
}

/** The part of a report a person needs: the failures and the summary. */
function report(r: StResult): string {
  const from = r.output.indexOf('FAILURES');
  const body = from >= 0 ? r.output.slice(Math.max(0, from - 40)) : r.output.slice(-8000);
  return `--- schemathesis as ${r.label} (exit ${r.code}) ---\n${body.slice(0, 30_000)}`;
}

describe('the OpenAPI contract', () => {
  let gw: Gateway;
  let bin: string;
  let work: string;
  const tokens = new Map<Person, string>();

  beforeAll(async () => {
    [bin, gw] = await Promise.all([
      installSchemathesis(),
      startGateway({
        env: {
          // Few sessions per person: each holds a kernel, and the fuzzer starts many.
          RUNGATE_MAX_SESSIONS_PER_USER: '3',
          RUNGATE_MAX_SESSIONS: '12',
          // Every run sends hundreds of requests without or with broken credentials on
          // purpose, all from 127.0.0.1: the per-address limit on refused
          // authentications (test/e2e/rate-limit.test.ts) would answer 429 to them all.
          RUNGATE_AUTH_FAILURE_LIMIT: '0',
          // Likewise the request-rate limits: all of it comes from one address, fast.
          RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '0',
          RUNGATE_RATE_LIMIT_PER_ADDRESS: '0',
        },
      }),
    ]);
    for (const who of PEOPLE) tokens.set(who, await gw.token(who));
    work = mkdtempSync(join(tmpdir(), 'rungate-contract-'));
    writeFileSync(join(work, 'schemathesis.toml'), CONFIG);
  }, INSTALL_TIMEOUT + 60_000);

  afterAll(async () => {
    await gw?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers an undeclared method on an existing path with 405 and Allow', async () => {
    const token = tokens.get('alice');
    const res = await gw.api('/v1/runbooks', { method: 'PATCH', token });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('method_not_allowed');
    // A parameterized path too, whatever the id (no authentication needed to learn it).
    const del = await gw.api('/v1/approvals/not-an-id', { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    // A path no route serves stays 404.
    expect((await gw.api('/v1/nothing-here', { method: 'PATCH', token })).status).toBe(404);
  });

  it('declares for every operation its success body and its errors as problem details', async () => {
    const doc = (await gw.api('/openapi.json')).body as {
      paths: Record<string, Record<string, OpenApiOperation>>;
    };
    const problems: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(op.responses);
        if (!statuses.some((s) => s.startsWith('2'))) problems.push(`${where}: no success`);
        for (const [status, res] of Object.entries(op.responses)) {
          const types = Object.keys(res.content ?? {});
          if (types.length === 0) problems.push(`${where} ${status}: no body schema`);
          if (status >= '400' && types.join() !== 'application/problem+json') {
            problems.push(`${where} ${status}: ${types.join()} instead of problem+json`);
          }
        }
        // The guards answer on every route that needs a credential.
        if ((op.security ?? []).length > 0) {
          for (const s of ['401', '403', '429']) {
            if (!statuses.includes(s)) problems.push(`${where}: ${s} not declared`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v1/')).length).toBeGreaterThan(15);
  });

  it('sends security headers and no CORS headers by default', async () => {
    const res = await fetch(`${gw.url}/v1/runbooks`, {
      headers: {
        origin: 'https://elsewhere.example',
        authorization: `Bearer ${tokens.get('carol')}`,
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none';frame-ancestors 'none'",
    );
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it(
    'passes schemathesis with every check, as each demo person',
    async () => {
      const schema = `${gw.url}/openapi.json`;
      const common = [
        '--checks',
        'all',
        '--seed',
        SEED,
        '--workers',
        '1',
        '--generation-database',
        'none',
        '--no-color',
      ];
      // Things that exist, so that answers other than 404 are generated and checked too:
      // alice's session (its event stream, its audit chain) and her pending request
      // for approval, which bob and dave then review.
      const session = await gw.api('/v1/sessions', {
        token: tokens.get('alice'),
        body: { runbook: 'shop/checkout-errors', reason: 'contract: things that exist' },
      });
      expect(session.status).toBe(201);
      const approval = await gw.api('/v1/approvals', {
        token: tokens.get('alice'),
        body: { session: session.body.id, cell: 'enable-fallback', reason: 'contract: a review' },
      });
      expect(approval.status).toBe(201);
      const existing = (id: string, ...ops: string[]) =>
        ops.map((op) => `[[operations]]\ninclude-name = "${op}"\nparameters = { id = "${id}" }\n`);
      const reviews = existing(
        approval.body.approval.id,
        'GET /v1/approvals/{id}',
        'POST /v1/approvals/{id}/approve',
        'POST /v1/approvals/{id}/deny',
        'POST /v1/approvals/{id}/acknowledge',
      );
      writeFileSync(join(work, 'reviewers.toml'), [CONFIG, ...reviews].join('\n'));
      writeFileSync(
        join(work, 'auditor.toml'),
        [CONFIG, ...existing(session.body.id, 'GET /v1/audit/sessions/{id}/verify')].join('\n'),
      );
      writeFileSync(
        join(work, 'stream.toml'),
        existing(session.body.id, 'GET /v1/sessions/{id}/stream').join('\n'),
      );
      const runs = [
        ...RUNS.map(({ who, phases, config, args = [] }) =>
          st(
            bin,
            who,
            [
              '--config-file',
              join(work, `${config}.toml`),
              'run',
              schema,
              ...common,
              '--phases',
              phases,
              '--max-examples',
              EXAMPLES,
              '--header',
              `Authorization: Bearer ${tokens.get(who)}`,
              '--exclude-path-regex',
              '/stream$',
              ...args,
            ],
            work,
          ),
        ),
        st(
          bin,
          'alice (event stream)',
          [
            '--config-file',
            join(work, 'stream.toml'),
            'run',
            schema,
            ...common,
            '--phases',
            'examples,coverage,fuzzing',
            '--header',
            `Authorization: Bearer ${tokens.get('alice')}`,
            '--include-path-regex',
            '/stream$',
            '--max-examples',
            '2',
            // The stream does not end; each request reads what came in this long.
            '--request-timeout',
            '1',
          ],
          work,
        ),
      ];
      const results = await Promise.all(runs);
      const failed = results.filter((r) => r.code !== 0);
      expect(failed.map(report).join('\n\n'), 'schemathesis found contract violations').toBe('');
      // Each run tested operations (an empty selection would pass vacuously).
      for (const r of results) expect(r.output, r.label).toMatch(/Tested: [1-9]/);
    },
    RUN_TIMEOUT,
  );
});

describe('CORS when origins are configured', () => {
  const ALLOWED = 'https://ops.example.com';
  let gw: Gateway;

  beforeAll(async () => {
    gw = await startGateway({ env: { RUNGATE_CORS_ORIGINS: ALLOWED } });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('answers the preflight and the call of a configured origin, and no other', async () => {
    const preflight = await fetch(`${gw.url}/v1/sessions`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();

    const token = await gw.token('alice');
    const call = await fetch(`${gw.url}/v1/runbooks`, {
      headers: { origin: ALLOWED, authorization: `Bearer ${token}` },
    });
    expect(call.status).toBe(200);
    expect(call.headers.get('access-control-allow-origin')).toBe(ALLOWED);

    const other = await fetch(`${gw.url}/v1/runbooks`, {
      headers: { origin: 'https://elsewhere.example', authorization: `Bearer ${token}` },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
