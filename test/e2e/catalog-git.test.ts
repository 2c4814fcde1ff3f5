import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { notebook, type CellSpec } from '../support/notebooks';

/**
 * Issue 13, acceptance 4: the catalog follows a Git repository. The test makes the
 * repository (`git init`) and its commits, with a fixed author, and waits on what the
 * gateway records (audit events, the catalog) with deadlines.
 */

const AUTHOR = {
  GIT_AUTHOR_NAME: 'Runbook Curator',
  GIT_AUTHOR_EMAIL: 'curator@example.com',
  GIT_COMMITTER_NAME: 'Runbook Curator',
  GIT_COMMITTER_EMAIL: 'curator@example.com',
};

/** A Git repository of runbooks that the test commits to. */
class RunbookRepo {
  readonly dir = mkdtempSync(join(tmpdir(), 'rungate-git-catalog-'));
  private readonly env: NodeJS.ProcessEnv = {
    ...process.env,
    ...AUTHOR,
    // The machine's own Git configuration plays no part.
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
  };

  constructor() {
    this.git('init', '--quiet', '--initial-branch=main');
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, env: this.env, encoding: 'utf8' }).trim();
  }

  write(path: string, content: string): void {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    writeFileSync(join(this.dir, path), content);
  }

  remove(path: string): void {
    this.git('rm', '--quiet', path);
  }

  /** Commits everything; answers the commit id. */
  commit(message: string, ...options: string[]): string {
    this.git('add', '--all');
    this.git(...options, 'commit', '--quiet', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function checkRunbook(cells: CellSpec[]): string {
  return notebook({
    title: 'Catalog check',
    description: 'A runbook the test changes in Git',
    cells: [{ id: 'intro', type: 'markdown', source: '# Catalog check' }, ...cells],
  });
}

const V1_CELLS: CellSpec[] = [
  { id: 'hello', source: 'print("hello from v1")' },
  { id: 'gone', source: 'print("removed in v2")' },
  { id: 'same', source: 'print("unchanged")' },
];

const V2_CELLS: CellSpec[] = [
  { id: 'hello', source: '# now with a comment\nprint("hello from v2")' },
  { id: 'same', source: 'print("unchanged")' },
  { id: 'extra', source: 'print("added in v2")' },
];

interface AuditEventBody {
  type: string;
  session?: string;
  actor: { type: string; sub?: string };
  runbook?: { id: string; version: string; commit?: string };
  details: Record<string, unknown>;
}

describe('a catalog that follows a Git ref', () => {
  let repo: RunbookRepo;
  let gw: Gateway;
  let alice: string;
  let carol: string;
  let c1: string;

  const events = async (query: string): Promise<AuditEventBody[]> => {
    const r = await gw.api(`/v1/audit/events?${query}`, { token: carol });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.events as AuditEventBody[];
  };

  const startSession = async (reason: string) => {
    const s = await gw.api('/v1/sessions', {
      token: alice,
      body: { runbook: 'ops/check', reason },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    return s.body as { id: string; runbook: { id: string; version: string } };
  };

  const sessionStarted = async (session: string) => {
    const found = await events(`session=${session}&type=session.started`);
    expect(found).toHaveLength(1);
    return found[0];
  };

  const catalogUpdatedAt = (commit: string) =>
    waitFor(
      `catalog.updated for commit ${commit.slice(0, 12)}`,
      async () => (await events('type=catalog.updated')).find((e) => e.details.commit === commit),
      30_000,
      100,
    );

  beforeAll(async () => {
    repo = new RunbookRepo();
    repo.write('runbooks/ops/check.ipynb', checkRunbook(V1_CELLS));
    // Outside the configured subdir: never part of the catalog.
    repo.write('drafts/not-yet.ipynb', checkRunbook(V1_CELLS));
    c1 = repo.commit('Add the catalog check runbook');
    gw = await startGateway({
      env: {
        RUNGATE_RUNBOOKS_GIT_URL: repo.dir,
        RUNGATE_RUNBOOKS_GIT_REF: 'main',
        RUNGATE_RUNBOOKS_GIT_SUBDIR: 'runbooks',
        RUNGATE_RUNBOOKS_GIT_POLL_SECONDS: '0.5',
      },
    });
    alice = await gw.token('alice');
    carol = await gw.token('carol');
  });

  afterAll(async () => {
    await gw?.stop();
    repo?.cleanup();
  });

  describe('following commits', () => {
    let v1: string;
    let v2: string;
    let c2: string;
    let before: { id: string; runbook: { id: string; version: string } };

    it('serves the ref at start-up, with its commit in the version', async () => {
      const list = await gw.api('/v1/runbooks', { token: alice });
      expect(list.status).toBe(200);
      expect(list.body.runbooks.map((r: { id: string }) => r.id)).toEqual(['ops/check']);
      const r = await gw.api('/v1/runbooks/ops/check', { token: alice });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.commit).toBe(c1);
      v1 = r.body.version as string;
    });

    it('records the commit in the session.started event of a session', async () => {
      before = await startSession('started before the change');
      expect(before.runbook.version).toBe(v1);
      const started = await sessionStarted(before.id);
      expect(started.runbook).toEqual({ id: 'ops/check', version: v1, commit: c1 });
    });

    it('follows a new commit within the poll interval and records catalog.updated', async () => {
      repo.write('runbooks/ops/check.ipynb', checkRunbook(V2_CELLS));
      repo.write('runbooks/ops/new.ipynb', checkRunbook([{ id: 'one', source: 'print(1)' }]));
      c2 = repo.commit('Rework the catalog check, add a new runbook');
      const event = await catalogUpdatedAt(c2);
      expect(event.actor.type).toBe('system');
      const current = await gw.api('/v1/runbooks/ops/check', { token: alice });
      expect(current.status).toBe(200);
      v2 = current.body.version as string;
      expect(v2).not.toBe(v1);
      expect(current.body.commit).toBe(c2);
      expect(event.details).toMatchObject({
        source: 'git',
        commit: c2,
        previous_commit: c1,
        changed: [{ id: 'ops/check', version: v2, previous_version: v1, commit: c2 }],
        removed: [],
        invalid: [],
      });
      expect(event.details.added).toEqual([expect.objectContaining({ id: 'ops/new', commit: c2 })]);
    });

    it('keeps a running session on its pinned version', async () => {
      const s = await gw.api(`/v1/sessions/${before.id}`, { token: alice });
      expect(s.status).toBe(200);
      expect(s.body.runbook.version).toBe(v1);
      const run = await gw.api(`/v1/sessions/${before.id}/cells/hello/execute`, {
        token: alice,
        method: 'POST',
      });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      expect(JSON.stringify(run.body.outputs)).toContain('hello from v1');
      // A cell that only the new version has is not part of the pinned one.
      const extra = await gw.api(`/v1/sessions/${before.id}/cells/extra/execute`, {
        token: alice,
        method: 'POST',
      });
      expect(extra.status).toBe(404);
    });

    it('starts a new session on the new version, with the new commit in session.started', async () => {
      const after = await startSession('started after the change');
      expect(after.runbook.version).toBe(v2);
      const started = await sessionStarted(after.id);
      expect(started.runbook).toEqual({ id: 'ops/check', version: v2, commit: c2 });
      await gw.api(`/v1/sessions/${after.id}`, { token: alice, method: 'DELETE' });
      await gw.api(`/v1/sessions/${before.id}`, { token: alice, method: 'DELETE' });
    });

    it('lists the versions it has seen, newest first, with their commits', async () => {
      const r = await gw.api('/v1/runbooks/ops/check/versions', { token: alice });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.id).toBe('ops/check');
      expect(
        r.body.versions.map((v: { version: string; commit: string; current: boolean }) => [
          v.version,
          v.commit,
          v.current,
        ]),
      ).toEqual([
        [v2, c2, true],
        [v1, c1, false],
      ]);
      const [newest, oldest] = r.body.versions as Array<{ firstSeen: string }>;
      expect(Date.parse(newest.firstSeen)).toBeGreaterThanOrEqual(Date.parse(oldest.firstSeen));
    });

    it('diffs two versions cell by cell, with a line diff of each changed source', async () => {
      const r = await gw.api(`/v1/runbooks/ops/check/diff?from=${v1}&to=${v2}`, { token: alice });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ id: 'ops/check', from: v1, to: v2 });
      expect(r.body.fromCommit).toBe(c1);
      expect(r.body.toCommit).toBe(c2);
      const byId = new Map(
        (r.body.cells as Array<{ id: string; change: string }>).map((c) => [c.id, c]),
      );
      expect([...byId.keys()].sort()).toEqual(['extra', 'gone', 'hello', 'same']);
      // Moved, not edited: its position matters for in-order execution.
      expect(byId.get('same')).toMatchObject({
        change: 'changed',
        fromIndex: 3,
        toIndex: 2,
        lines: [{ op: ' ', text: 'print("unchanged")' }],
      });
      expect(byId.get('hello')).toMatchObject({
        change: 'changed',
        fromIndex: 1,
        toIndex: 1,
        lines: [
          { op: '-', text: 'print("hello from v1")' },
          { op: '+', text: '# now with a comment' },
          { op: '+', text: 'print("hello from v2")' },
        ],
      });
      expect(byId.get('gone')).toMatchObject({
        change: 'removed',
        toIndex: null,
        lines: [{ op: '-', text: 'print("removed in v2")' }],
      });
      expect(byId.get('extra')).toMatchObject({
        change: 'added',
        fromIndex: null,
        lines: [{ op: '+', text: 'print("added in v2")' }],
      });
    });

    it('refuses a diff with a malformed or unknown version', async () => {
      const bad = await gw.api(`/v1/runbooks/ops/check/diff?from=nope&to=${v2}`, { token: alice });
      expect(bad.status).toBe(400);
      const unknown = await gw.api(`/v1/runbooks/ops/check/diff?from=${'0'.repeat(64)}&to=${v2}`, {
        token: alice,
      });
      expect(unknown.status).toBe(404);
      const noRunbook = await gw.api('/v1/runbooks/ops/missing/versions', { token: alice });
      expect(noRunbook.status).toBe(404);
    });
  });

  describe('the refresh webhook', () => {
    it('loads a new commit before it answers', async () => {
      repo.remove('runbooks/ops/new.ipynb');
      const c3 = repo.commit('Retire the new runbook');
      const r = await gw.api('/v1/catalog/refresh', { token: alice, method: 'POST' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.commit).toBe(c3);
      // Answered after the load: the catalog already serves the commit.
      const gone = await gw.api('/v1/runbooks/ops/new', { token: alice });
      expect(gone.status).toBe(404);
      const event = await catalogUpdatedAt(c3);
      expect(event.details.removed).toEqual([expect.objectContaining({ id: 'ops/new' })]);
      // A runbook the commit left alone keeps the commit that last changed it.
      const check = await gw.api('/v1/runbooks/ops/check', { token: alice });
      const lastChange = repo.git('log', '-1', '--format=%H', '--', 'runbooks/ops/check.ipynb');
      expect(lastChange).not.toBe(c3);
      expect(check.body.commit).toBe(lastChange);
    });

    it('is refused to people without catalog:refresh, and without a token', async () => {
      const dave = await gw.token('dave');
      expect((await gw.api('/v1/catalog/refresh', { token: dave, method: 'POST' })).status).toBe(
        403,
      );
      expect((await gw.api('/v1/catalog/refresh', { method: 'POST' })).status).toBe(401);
    });
  });
});

describe('a Git catalog that accepts only signed commits', () => {
  let repo: RunbookRepo;
  let gw: Gateway;
  let alice: string;
  let keys: string;
  let signing: string[];

  beforeAll(async () => {
    repo = new RunbookRepo();
    keys = mkdtempSync(join(tmpdir(), 'rungate-git-keys-'));
    const key = join(keys, 'curator');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'curator', '-f', key]);
    const allowed = join(keys, 'allowed_signers');
    writeFileSync(allowed, `${AUTHOR.GIT_COMMITTER_EMAIL} ${readFileSync(`${key}.pub`, 'utf8')}`);
    signing = ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`];
    repo.write('ops/check.ipynb', checkRunbook(V1_CELLS));
    repo.commit('Signed: the first version', ...signing, '-c', 'commit.gpgsign=true');
    gw = await startGateway({
      env: {
        RUNGATE_RUNBOOKS_GIT_URL: repo.dir,
        // Only the webhook moves it in this test.
        RUNGATE_RUNBOOKS_GIT_POLL_SECONDS: '3600',
        RUNGATE_RUNBOOKS_GIT_ALLOWED_SIGNERS: allowed,
      },
    });
    alice = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    repo?.cleanup();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });

  it('loads a signed commit, refuses an unsigned one and keeps the catalog as it was', async () => {
    const first = await gw.api('/v1/runbooks/ops/check', { token: alice });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const signedCommit = repo.git('rev-parse', 'HEAD');
    expect(first.body.commit).toBe(signedCommit);

    repo.write('ops/check.ipynb', checkRunbook(V2_CELLS));
    repo.commit('Unsigned: must not be served');
    const refused = await gw.api('/v1/catalog/refresh', { token: alice, method: 'POST' });
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toContain('not signed by an allowed signer');
    const still = await gw.api('/v1/runbooks/ops/check', { token: alice });
    expect(still.body.version).toBe(first.body.version);

    repo.write('ops/check.ipynb', checkRunbook([{ id: 'hello', source: 'print("v3")' }]));
    const signed = repo.commit('Signed again', ...signing, '-c', 'commit.gpgsign=true');
    const accepted = await gw.api('/v1/catalog/refresh', { token: alice, method: 'POST' });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toEqual({ commit: signed, changed: true });
    const now = await gw.api('/v1/runbooks/ops/check', { token: alice });
    expect(now.body.commit).toBe(signed);
    // Only the webhook loads commits here: the change is recorded as its caller's.
    const carol = await gw.token('carol');
    const updates = await gw.api('/v1/audit/events?type=catalog.updated', { token: carol });
    expect(updates.status).toBe(200);
    const updated = (updates.body.events as AuditEventBody[]).filter(
      (e) => e.details.commit === signed,
    );
    expect(updated).toHaveLength(1);
    expect(updated[0].actor).toMatchObject({ type: 'user', sub: expect.any(String) });
    expect(updated[0].details.changed).toEqual([
      expect.objectContaining({ id: 'ops/check', commit: signed }),
    ]);
    expect(now.body.cells.map((c: { id: string }) => c.id)).toEqual(['intro', 'hello']);
  });
});
