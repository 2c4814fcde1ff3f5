import { describe, expect, it } from 'vitest';
import { executedNotebook, INJECTED_PARAMETERS_TAG } from './notebook-export';
import { fixtureRecord } from './run-record.fixtures';

type Cell = {
  id: string;
  cell_type: string;
  source: string;
  outputs?: { output_type: string; execution_count?: number | null }[];
  execution_count?: number | null;
  metadata: { tags?: string[]; rungate?: Record<string, unknown> };
};

function cells(): Cell[] {
  return executedNotebook(fixtureRecord()).cells as Cell[];
}

describe('executedNotebook', () => {
  it('keeps the runbook cells in order and injects the session parameters after the parameters cell', () => {
    expect(cells().map((c) => c.id)).toEqual([
      'intro',
      'params',
      INJECTED_PARAMETERS_TAG,
      'look',
      'fix',
      'boom',
      'slow',
      'never',
    ]);
    const injected = cells()[2];
    expect(injected.metadata.tags).toEqual([INJECTED_PARAMETERS_TAG]);
    expect(injected.source).toBe('limit = 5\n');
    expect(injected.metadata.rungate).toMatchObject({ parameters: { limit: 5 } });
    // The curator's defaults stay as written, without outputs.
    expect(cells()[1]).toMatchObject({ source: 'limit = 10', outputs: [], execution_count: null });
  });

  it("shows each cell's last execution and lists every execution in its metadata", () => {
    const look = cells().find((c) => c.id === 'look')!;
    expect(look.execution_count).toBe(3);
    expect(look.outputs?.map((o) => o.output_type)).toEqual([
      'stream',
      'display_data',
      'display_data',
      'display_data',
      'execute_result',
    ]);
    // nbformat requires execute_result to carry the count.
    expect(look.outputs?.[4].execution_count).toBe(3);
    const runs = look.metadata.rungate?.executions as { seq: number; trace_id: string }[];
    expect(runs.map((r) => r.seq)).toEqual([2, 3]);
    expect(runs.every((r) => /^[0-9a-f]{32}$/.test(r.trace_id))).toBe(true);
    expect(cells().find((c) => c.id === 'never')).toMatchObject({
      outputs: [],
      execution_count: null,
    });
  });

  it('records the approval with its approvers and their comments on the mutating cell', () => {
    const fix = cells().find((c) => c.id === 'fix')!;
    // The curator's own rungate metadata is kept beside the run's.
    expect(fix.metadata.rungate?.timeout).toBe(30);
    const [run] = fix.metadata.rungate?.executions as Record<string, unknown>[];
    expect(run).toMatchObject({
      status: 'ok',
      requested_by: { name: 'alice' },
      approval: {
        id: 'ap-1',
        breakglass: false,
        requester: { name: 'alice' },
        reason: 'orders stuck since 9:00',
        reviews: [{ reviewer: { name: 'bob' }, decision: 'approved', comment: 'go <ahead>' }],
      },
    });
  });

  it('shows the error and the interrupt with their statuses', () => {
    const boom = cells().find((c) => c.id === 'boom')!;
    const slow = cells().find((c) => c.id === 'slow')!;
    expect(boom.outputs?.[0].output_type).toBe('error');
    expect((boom.metadata.rungate?.executions as { status: string }[])[0].status).toBe('error');
    expect((slow.metadata.rungate?.executions as { status: string }[])[0].status).toBe(
      'interrupted',
    );
  });

  it('names the Git commit of the runbook version when the catalog knows it', () => {
    const record = fixtureRecord();
    const withCommit = { ...record, runbook: { ...record.runbook, commit: 'c'.repeat(40) } };
    const meta = executedNotebook(withCommit).metadata as {
      rungate: { run: { runbook: unknown } };
    };
    expect(meta.rungate.run.runbook).toMatchObject({ commit: 'c'.repeat(40) });
    const without = executedNotebook(record).metadata as { rungate: { run: { runbook: object } } };
    expect(without.rungate.run.runbook).not.toHaveProperty('commit');
  });

  it('names the session, its runbook version and the head of its audit chain', () => {
    const record = fixtureRecord();
    const nb = executedNotebook(record);
    expect(nb).toMatchObject({ nbformat: 4, nbformat_minor: 5 });
    const meta = nb.metadata as { kernelspec: unknown; rungate: Record<string, unknown> };
    expect(meta.kernelspec).toMatchObject({ name: 'python3' });
    expect(meta.rungate.title).toBe('Fix <stuck> orders');
    expect(meta.rungate.run).toMatchObject({
      session: record.session.id,
      runbook: { id: 'test/fix', version: record.runbook.version },
      environment: 'staging',
      targets: ['orders-db'],
      incident: 'INC-42',
      audit: { chain: record.session.id, head: record.verification.head, verified: true },
      exported_by: { name: 'carol' },
    });
  });
});
