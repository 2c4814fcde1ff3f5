import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { ApprovalsModule, ApprovalsService, ApprovalWebhook } from '../../src/approvals';
import { AuthGuard } from '../../src/auth/auth.guard';
import { AuthModule } from '../../src/auth/auth.module';
import type { Principal } from '../../src/auth/principal';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { DbModule } from '../../src/db/db.module';
import { ProblemDetailsFilter } from '../../src/http/problem-details.filter';
import { edgeValidationPipe } from '../../src/http/validation.pipe';
import { PolicyGuard } from '../../src/policy/policy.guard';
import { PolicyModule } from '../../src/policy/policy.module';
import { PolicyService } from '../../src/policy/policy.service';
import type { Decision } from '../../src/policy/policy.types';
import { SessionApprovalsModule } from '../../src/sessions/session-approvals.module';
import { startTestIssuer, type DemoUsername } from '../support/oidc';
import { createDatabase } from '../support/postgres';
import { Database, type Queryable } from '../../src/db/database';
import { parseNotebook } from '../../src/runbooks';
import { normalizeNotebook } from '../../src/runbooks/notebook';
import { notebook, type CellSpec } from '../support/notebooks';

/*
 * An approvals slice of the gateway: the ledger (ApprovalsModule) and the sessions
 * side of its routes (SessionApprovalsModule, which reads the real sessions,
 * executions and runbook_snapshots tables), without kernels or targets; and
 * factories that insert those rows with SQL.
 */

export const REFUND_CODE =
  'cur.execute("UPDATE orders SET refunded = true WHERE id = %s", (order_id,))';

/** A runbook with a read-only cell and a mutating one; `refundCode` varies the mutating cell. */
export function refundRunbook(refundCode = REFUND_CODE, environment = 'prod'): string {
  const cells: CellSpec[] = [
    { id: 'params', source: 'order_id = "A-1"', tags: ['parameters'] },
    { id: 'look', source: 'print(order_id)' },
    { id: 'refund', source: refundCode, tags: ['mutating'] },
  ];
  const raw = JSON.parse(
    notebook({ title: 'Refund', targets: ['shop-db'], environment, cells }),
  ) as Record<string, unknown>;
  return normalizeNotebook(raw);
}

/** Options of {@link insertSession}. */
export interface SessionSeed {
  readonly owner?: { sub: string; name: string };
  readonly runbookId?: string;
  readonly content?: string;
  readonly parameters?: Record<string, unknown>;
  readonly state?: 'idle' | 'ended';
}

/** Inserts a runbook snapshot and an idle session of it; returns the session id and its facts. */
export async function insertSession(db: Database, seed: SessionSeed = {}): Promise<string> {
  const runbookId = seed.runbookId ?? 'shop/refund';
  const content = seed.content ?? refundRunbook();
  const parsed = parseNotebook(runbookId, content, { defaultKernel: 'python3' });
  if (!parsed.valid) throw new Error(`test runbook is invalid: ${parsed.reason}`);
  const owner = seed.owner ?? { sub: 'alice', name: 'Alice Oncall' };
  const id = randomUUID();
  await db.query(
    `INSERT INTO runbook_snapshots (runbook_id, version, content) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING`,
    [runbookId, parsed.version, parsed.content],
  );
  await db.query(
    `INSERT INTO sessions (id, runbook_id, runbook_version, environment, targets, parameters,
       reason, owner_sub, owner_name, state, instance_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'test', $7, $8, $9, 'test', now() + interval '1 hour')`,
    [
      id,
      runbookId,
      parsed.version,
      parsed.environment,
      JSON.stringify(parsed.targets),
      JSON.stringify(seed.parameters ?? { order_id: 'A-1' }),
      owner.sub,
      owner.name,
      seed.state ?? 'idle',
    ],
  );
  return id;
}

/** Inserts a finished execution with outputs, as the sessions module records one. */
export async function insertExecution(
  db: Database,
  sessionId: string,
  cellId: string,
  outputs: unknown[],
): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO executions (id, session_id, seq, cell_id, cell_sha256, cell_class, code, state,
       outputs, requested_by_sub, requested_by_name, finished_at)
     VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM executions WHERE session_id = $2),
       $3, $4, 'read-only', 'print(1)', 'ok', $5, 'alice', 'Alice', now())`,
    [id, sessionId, cellId, 'f'.repeat(64), JSON.stringify(outputs)],
  );
  return id;
}

/**
 * Inserts a queued execution row, as sessions does in the transaction that calls
 * `consume`. `seq` is explicit so concurrent transactions do not collide on it.
 */
export async function insertQueuedExecution(
  tx: Queryable,
  sessionId: string,
  cellId: string,
  seq: number,
): Promise<string> {
  const id = randomUUID();
  await tx.query(
    `INSERT INTO executions (id, session_id, seq, cell_id, cell_sha256, cell_class, code, state,
       requested_by_sub, requested_by_name)
     VALUES ($1, $2, $3, $4, $5, 'mutating', 'x', 'queued', 'alice', 'Alice')`,
    [id, sessionId, seq, cellId, 'e'.repeat(64)],
  );
  return id;
}

/** A gateway slice for approvals: real OIDC issuer, auth and policy guards, PostgreSQL, audit. */
export interface ApprovalsApp {
  readonly app: INestApplication;
  readonly db: Database;
  readonly service: ApprovalsService;
  readonly webhook: ApprovalWebhook;
  /** The slice's database, for a later slice on the same data (a restart). */
  readonly databaseUrl: string;
  /**
   * The decision the policy guard makes for `breakglass` by `principal` on a session of
   * `owner`'s (of `shop/refund` in `prod`): what a break-glass run hands the ledger.
   */
  breakGlassDecision(principal: Principal, owner: string): Decision;
  /** An HTTP call with a demo person's real access token (or none). */
  call(
    method: 'GET' | 'POST',
    path: string,
    person?: DemoUsername,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * Starts the slice on a fresh database of the test PostgreSQL server, or on
 * `options.databaseUrl` (the database of a slice started before: a restart).
 */
export async function startApprovalsApp(
  postgresUrl: string,
  env: Record<string, string> = {},
  options: { readonly databaseUrl?: string } = {},
): Promise<ApprovalsApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rungate-approvals-'));
  const url = options.databaseUrl ?? (await createDatabase(postgresUrl, 'approvals'));
  const base = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    RUNGATE_DATA_DIR: dataDir,
    RUNGATE_POLICY_WATCH: 'false',
    RUNGATE_DEMO_TARGET: 'false',
    ...env,
  });
  const issuer = await startTestIssuer({ config: base });
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forRoot(issuer.config),
      DbModule,
      AuthModule,
      PolicyModule,
      // As SessionsModule imports them: the ledger's routes register first.
      ApprovalsModule,
      SessionApprovalsModule,
    ],
    providers: [
      { provide: APP_GUARD, useExisting: AuthGuard },
      { provide: APP_GUARD, useExisting: PolicyGuard },
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  app.setGlobalPrefix('v1');
  app.useGlobalPipes(edgeValidationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter());
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const tokens = new Map<DemoUsername, string>();
  return {
    app,
    db: app.get(Database),
    service: app.get(ApprovalsService),
    webhook: app.get(ApprovalWebhook),
    databaseUrl: url,
    breakGlassDecision: (principal, owner) =>
      app
        .get(PolicyService)
        .authorize(principal, 'breakglass', { runbook: 'shop/refund', environment: 'prod', owner }),
    async call(method, path, person, body) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (person !== undefined) {
        if (!tokens.has(person)) tokens.set(person, await issuer.authorizationFor(person));
        headers.authorization = tokens.get(person) ?? '';
      }
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async close() {
      await app.close();
      await issuer.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Principals as the auth module builds them from the demo people's tokens. */
export const people = {
  alice: { sub: 'alice', name: 'Alice Oncall', groups: ['oncall'] },
  bob: { sub: 'bob', name: 'Bob Oncall-Approver', groups: ['oncall', 'approvers'] },
  dave: { sub: 'dave', name: 'Dave Approver', groups: ['approvers'] },
  ivan: { sub: 'ivan', name: 'Ivan Commander', groups: ['oncall', 'incident-commanders'] },
} as const satisfies Record<string, Principal>;
