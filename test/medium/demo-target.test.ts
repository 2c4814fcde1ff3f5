import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config';
import { startDemoTarget } from '../../src/demo-target/demo-target';
import { parseNotebook } from '../../src/runbooks/notebook';
import { renderParametersCell, validateParameters } from '../../src/runbooks/parameters';
import type { Runbook, RunbookCell } from '../../src/runbooks/runbooks.types';
import type { SecretRef } from '../../src/targets/targets.types';

const ROOT = resolve(__dirname, '..', '..');
const PYTHON = resolve(ROOT, '.cache/venv/bin/python');
const RUNBOOKS = resolve(ROOT, 'runbooks');

/**
 * Runs cells one by one in an IPython shell (what ipykernel wraps), the way a kernel
 * would, and reports each cell's outcome as one JSON line on fd 3.
 */
const DRIVER = `
import json, os, sys
from IPython.core.interactiveshell import InteractiveShell
cells = json.load(sys.stdin)
shell = InteractiveShell.instance()
out = os.fdopen(3, "w")
for cell in cells:
    result = shell.run_cell(cell["source"], store_history=False)
    err = result.error_in_exec or result.error_before_exec
    row = {"id": cell["id"], "ok": err is None}
    if err is not None:
        row.update(error=type(err).__name__, message=str(err), status=getattr(err, "status", None), target_message=getattr(err, "message", None))
    out.write(json.dumps(row) + "\\n")
    out.flush()
`;

interface CellOutcome {
  id: string;
  ok: boolean;
  error?: string;
  message?: string;
  status?: number | null;
  target_message?: string | null;
}

interface KernelRun {
  outcomes: CellOutcome[];
  stdout: string;
}

/** Executes cells in a fresh Python process with only the target's variables in its environment. */
function runCells(
  cells: Array<{ id: string; source: string }>,
  target: { url: string; token: string },
  extraEnv: Record<string, string> = {},
): Promise<KernelRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, ['-c', DRIVER], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PYTHONPATH: resolve(ROOT, 'kernels/python'),
        RUNGATE_TARGET_DEMO_SHOP_KIND: 'http',
        RUNGATE_TARGET_DEMO_SHOP_URL: target.url,
        RUNGATE_TARGET_DEMO_SHOP_TOKEN: target.token,
        ...extraEnv,
      },
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let results = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (results += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python exited ${code}: ${stderr}\n${stdout}`));
      const outcomes = results
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as CellOutcome);
      resolvePromise({ outcomes, stdout });
    });
    child.stdin?.end(JSON.stringify(cells));
  });
}

async function loadSampleRunbooks(): Promise<Runbook[]> {
  const out: Runbook[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith('.ipynb')) {
        const id = relative(RUNBOOKS, full).replace(/\.ipynb$/, '');
        const parsed = parseNotebook(id, await readFile(full, 'utf8'), {
          defaultKernel: 'python3',
        });
        if (!parsed.valid) throw new Error(`${id} is invalid: ${parsed.reason}`);
        out.push(parsed);
      }
    }
  };
  await walk(RUNBOOKS);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function code(cells: RunbookCell[]): Array<{ id: string; source: string }> {
  return cells.map((c) => ({ id: c.id, source: c.source }));
}

async function http(
  url: string,
  token: string | null,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/** demo-shop's tokens are set by the gateway, as values (never env or file references). */
function tokenOf(ref: SecretRef | undefined): string {
  if (ref === undefined || !('value' in ref)) throw new Error('expected a token given as a value');
  return ref.value;
}

describe(startDemoTarget.name, () => {
  let creds: { url: string; readOnlyToken: string; elevatedToken: string };
  let stop: () => Promise<void>;
  let runbooks: Runbook[];

  beforeAll(async () => {
    const config = loadConfig(
      { NODE_ENV: 'test', RUNGATE_DEMO_TARGET: 'true', RUNGATE_DEMO_TARGET_PORT: '0' },
      ROOT,
    );
    const demo = await startDemoTarget(config);
    stop = () => demo.stop();
    const { target } = demo;
    creds = {
      url: demo.url,
      readOnlyToken: tokenOf(target.readOnly),
      elevatedToken: tokenOf(target.elevated),
    };
    runbooks = await loadSampleRunbooks();
  });

  afterAll(async () => {
    await stop?.();
  });

  describe('target', () => {
    it('serves on a free loopback port with two distinct random tokens', () => {
      expect(creds.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(creds.url.endsWith(':0')).toBe(false);
      expect(creds.readOnlyToken).toMatch(/^dshop_ro_[\w-]{32}$/);
      expect(creds.elevatedToken).toMatch(/^dshop_rw_[\w-]{32}$/);
    });

    it('is an ordinary static http target of the prod environment', async () => {
      const config = loadConfig({ NODE_ENV: 'test', RUNGATE_DEMO_TARGET_PORT: '0' }, ROOT);
      const other = await startDemoTarget(config);
      try {
        expect(other.target).toMatchObject({
          name: 'demo-shop',
          environment: 'prod',
          kind: 'static',
          protocol: 'http',
          url: other.url,
        });
        // Fresh tokens at each start.
        expect(tokenOf(other.target.readOnly)).not.toBe(creds.readOnlyToken);
      } finally {
        await other.stop();
      }
      await expect(fetch(`${other.url}/api/overview`)).rejects.toThrow();
    });
  });

  describe('http API', () => {
    it('refuses requests without a known bearer token', async () => {
      expect((await http(`${creds.url}/api/overview`, null)).status).toBe(401);
      expect((await http(`${creds.url}/api/overview`, 'dshop_ro_guess')).status).toBe(401);
    });

    it('answers reads with the read-only token', async () => {
      const res = await http(`${creds.url}/api/overview`, creds.readOnlyToken);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ service: 'demo-shop', status: 'degraded' });
    });

    it('refuses every write made with the read-only token, at the target itself', async () => {
      for (const [method, path] of [
        ['POST', '/api/cache/flush'],
        ['PUT', '/api/flags/new-checkout-flow'],
        ['POST', '/api/jobs/retry-stuck'],
        ['DELETE', '/api/flags/new-checkout-flow'],
      ]) {
        const res = await http(`${creds.url}${path}`, creds.readOnlyToken, method, {});
        expect([method, path, res.status, res.body]).toEqual([
          method,
          path,
          403,
          { error: 'read-only credential' },
        ]);
      }
    });

    it('lets the elevated token write', async () => {
      const res = await http(
        `${creds.url}/api/flags/recommendations-widget`,
        creds.elevatedToken,
        'PUT',
        { rollout_percent: 30 },
      );
      expect(res).toMatchObject({
        status: 200,
        body: { name: 'recommendations-widget', rollout_percent: 30 },
      });
    });

    it('validates query parameters', async () => {
      const res = await http(`${creds.url}/api/endpoints/stats?minutes=abc`, creds.readOnlyToken);
      expect(res).toEqual({
        status: 400,
        body: { error: 'minutes must be a whole number from 1 to 180' },
      });
    });
  });

  describe('rungate kernel helper', () => {
    it('lists targets, hides credentials and explains failures', async () => {
      const run = await runCells(
        [
          { id: 'list', source: 'import rungate\nprint("targets:", rungate.targets())' },
          { id: 'repr', source: 'print("repr:", repr(rungate.target("demo-shop")))' },
          { id: 'unknown', source: 'rungate.target("nope")' },
          { id: 'pg', source: 'rungate.connect("orders-db")' },
          { id: 'missing', source: 'rungate.target("demo-shop").get("/api/nothing-here")' },
        ],
        { url: creds.url, token: creds.readOnlyToken },
        {
          RUNGATE_TARGET_ORDERS_DB_KIND: 'postgres',
          RUNGATE_TARGET_ORDERS_DB_DSN: 'postgresql://u:secret@127.0.0.1/x',
        },
      );
      expect(run.stdout).toContain("targets: ['demo-shop', 'orders-db']");
      expect(run.stdout).toContain(`repr: <rungate.HttpTarget demo-shop ${creds.url}>`);
      expect(run.stdout).not.toContain(creds.readOnlyToken);
      expect(run.outcomes.slice(2)).toMatchObject([
        {
          id: 'unknown',
          ok: false,
          error: 'TargetError',
          message: expect.stringContaining("unknown target 'nope'"),
        },
        // psycopg is installed: it really tries the (closed) address and says so.
        { id: 'pg', ok: false, error: 'OperationalError' },
        { id: 'missing', ok: false, error: 'TargetError', status: 404 },
      ]);
    });
  });

  describe('sample runbooks', () => {
    it('are all valid, without linter warnings, and declare demo-shop', () => {
      expect(runbooks.map((r) => r.id)).toEqual(
        expect.arrayContaining(['shop/checkout-errors', 'shop/stuck-jobs', 'shop/order-lookup']),
      );
      for (const rb of runbooks) {
        expect([rb.id, rb.warnings]).toEqual([rb.id, []]);
        expect(rb.targets).toEqual(['demo-shop']);
        expect(rb.environment).toBe('prod');
      }
    });

    it('run every read-only cell against demo-shop without error', async () => {
      for (const rb of runbooks) {
        const cells = rb.cells.filter((c) => c.class === 'parameters' || c.class === 'read-only');
        const run = await runCells(code(cells), { url: creds.url, token: creds.readOnlyToken });
        expect([rb.id, run.outcomes.filter((o) => !o.ok)]).toEqual([rb.id, []]);
        expect(run.outcomes.map((o) => o.id)).toEqual(cells.map((c) => c.id));
      }
    });

    it('run the order lookup with injected parameters for a real order', async () => {
      const rb = runbooks.find((r) => r.id === 'shop/order-lookup') as Runbook;
      const pending = (
        await http(`${creds.url}/api/orders?status=pending_payment&limit=1`, creds.readOnlyToken)
      ).body as Array<{ id: string }>;
      expect(pending).toHaveLength(1);
      const values = validateParameters(rb, {
        order_id: pending[0].id,
        show_payment_attempts: true,
      });
      const cells = rb.cells.filter((c) => c.class === 'parameters' || c.class === 'read-only');
      const at = cells.findIndex((c) => c.class === 'parameters') + 1;
      const withInjected = [
        ...code(cells.slice(0, at)),
        { id: 'injected', source: renderParametersCell(values, rb.parameters) },
        ...code(cells.slice(at)),
      ];
      const run = await runCells(withInjected, { url: creds.url, token: creds.readOnlyToken });
      expect(run.outcomes.filter((o) => !o.ok)).toEqual([]);
      expect(run.stdout).toContain(pending[0].id);
      expect(run.stdout).toContain('timeout');
    });

    it('fail a mutating cell with the target 403 under the read-only token, and run it with the elevated one', async () => {
      const mutating = runbooks.flatMap((rb) =>
        rb.cells.filter((c) => c.class === 'mutating').map((c) => ({ rb, cell: c })),
      );
      expect(mutating.length).toBeGreaterThanOrEqual(2);
      for (const { rb, cell } of mutating) {
        const before = rb.cells.filter(
          (c) => c.index < cell.index && (c.class === 'parameters' || c.class === 'read-only'),
        );
        const denied = await runCells(code([...before, cell]), {
          url: creds.url,
          token: creds.readOnlyToken,
        });
        expect(denied.outcomes.at(-1)).toMatchObject({
          id: cell.id,
          ok: false,
          error: 'TargetError',
          status: 403,
          target_message: 'read-only credential',
        });
        expect(denied.outcomes.slice(0, -1).every((o) => o.ok)).toBe(true);
        const allowed = await runCells(code([...before, cell]), {
          url: creds.url,
          token: creds.elevatedToken,
        });
        expect([rb.id, allowed.outcomes.filter((o) => !o.ok)]).toEqual([rb.id, []]);
      }
    });

    it('leave no stuck payment-capture jobs once the stuck-jobs retry ran', async () => {
      // The previous test ran the approved retry cell with the elevated token.
      const res = await http(
        `${creds.url}/api/jobs?queue=payment-capture&stuck=true`,
        creds.readOnlyToken,
      );
      expect(res).toEqual({ status: 200, body: [] });
      const queued = (
        await http(`${creds.url}/api/jobs?queue=payment-capture&state=queued`, creds.readOnlyToken)
      ).body as Array<{ attempts: number }>;
      expect(queued.some((j) => j.attempts > 1)).toBe(true);
    });
  });
});
