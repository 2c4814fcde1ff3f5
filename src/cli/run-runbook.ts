import type {
  ApprovalSummary,
  Execution,
  ExecutionStatus,
  RunbookDetail,
  SessionCell,
  SessionDetail,
} from './api-types';
import { CliError, ExitCode } from './errors';
import { ApiError, type GatewayClient } from './gateway-client';
import { coerceParameters, type ParamAssignment } from './params';
import { renderOutput, type NotebookOutput } from './render';
import { duration, type Terminal } from './terminal';
import { SessionEvents } from './session-events';

/** What `rungate run` was asked to do. */
export interface RunOptions {
  readonly runbook: string;
  readonly params: readonly ParamAssignment[];
  readonly reason: string;
  readonly incident?: string;
  /** Request approval for mutating cells without asking (needed without a terminal). */
  readonly yes: boolean;
  /** How often to look at a pending approval. */
  readonly approvalPollMs?: number;
}

/** One cell's part in the `--json` result. */
export interface CellResult {
  readonly id: string;
  readonly class: string;
  readonly status: ExecutionStatus | 'not_run';
  readonly execution?: string;
  readonly durationMs?: number;
  readonly approval?: string;
  readonly outputs?: readonly NotebookOutput[];
}

/** The `--json` result of `rungate run`. */
export interface RunResult {
  readonly session: string;
  readonly runbook: { readonly id: string; readonly version: string };
  readonly page: string;
  readonly status: 'completed' | 'failed' | 'not_approved' | 'interrupted';
  readonly cells: CellResult[];
}

const FINISHED: ReadonlySet<ExecutionStatus> = new Set([
  'ok',
  'error',
  'interrupted',
  'kernel_died',
  'cancelled',
  'abandoned',
]);

/**
 * Runs a runbook as a person at a terminal would: starts a session, shows each cell,
 * runs the read-only ones in order while their outputs stream, stops at a cell that
 * changes production to request an approval (asking first, unless `--yes`), waits for
 * the grant, runs it, and goes on to the end. The session ends however the run ends
 * (success, failure, refusal or Ctrl-C), so no kernel is left behind.
 */
export async function runRunbook(
  client: GatewayClient,
  term: Terminal,
  options: RunOptions,
  signal: AbortSignal,
): Promise<RunResult> {
  const runbook = await client.get<RunbookDetail>(
    `/v1/runbooks/${options.runbook.split('/').map(encodeURIComponent).join('/')}`,
  );
  if (!runbook.valid) {
    throw new CliError(
      `runbook ${runbook.id} is invalid: ${runbook.reason ?? 'unknown reason'}`,
      ExitCode.Failure,
      'runbook_invalid',
    );
  }
  const parameters = coerceParameters(options.params, runbook.parameters ?? null);
  const session = await client.post<SessionDetail>('/v1/sessions', {
    runbook: runbook.id,
    parameters,
    reason: options.reason,
    ...(options.incident !== undefined && { incident: options.incident }),
  });
  const page = client.pageUrl(`/sessions/${session.id}`);
  term.note(
    `${term.bold(runbook.title ?? runbook.id)} · session ${session.id} · ${session.environment}` +
      ` (${session.targets.join(', ') || 'no targets'})\n${term.dim(page)}`,
  );
  const events = new SessionEvents(client, session.id, (output) =>
    term.write(renderOutput(output, term.color, page)),
  );
  const run = new Run(client, term, options, session, events, page);
  try {
    await events.connected();
    return await run.cells(signal);
  } finally {
    events.close();
    await run.end();
  }
}

class Run {
  private readonly results: CellResult[] = [];
  private ended = false;

  constructor(
    private readonly client: GatewayClient,
    private readonly term: Terminal,
    private readonly options: RunOptions,
    private readonly session: SessionDetail,
    private readonly events: SessionEvents,
    private readonly page: string,
  ) {}

  async cells(signal: AbortSignal): Promise<RunResult> {
    const code = this.session.cells.filter((c) => c.type === 'code');
    let position = 0;
    for (const cell of this.session.cells) {
      if (cell.type !== 'code') {
        this.showMarkdown(cell);
        continue;
      }
      position += 1;
      this.showCell(cell, position, code.length);
      let approval: string | undefined;
      if (cell.class === 'mutating') {
        approval = await this.approve(cell, signal);
        if (approval === undefined) return this.finish('not_approved', code);
      }
      const outcome = await this.execute(cell, approval, signal);
      if (outcome === 'interrupted') return this.finish('interrupted', code);
      if (outcome !== 'ok') return this.finish('failed', code);
    }
    return this.finish('completed', code);
  }

  /** Ends the session (once); failures to do so are reported, not thrown over the real outcome. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.term.stopSpinner();
    try {
      await this.client.delete(`/v1/sessions/${this.session.id}`);
    } catch (err) {
      this.term.note(
        this.term.yellow(
          `could not end session ${this.session.id}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
  }

  private finish(status: RunResult['status'], code: readonly SessionCell[]): RunResult {
    for (const cell of code.slice(this.results.length)) {
      this.results.push({ id: cell.id, class: cell.class ?? 'read-only', status: 'not_run' });
    }
    return {
      session: this.session.id,
      runbook: { id: this.session.runbook.id, version: this.session.runbook.version },
      page: this.page,
      status,
      cells: this.results,
    };
  }

  private showMarkdown(cell: SessionCell): void {
    const heading = cell.source.split('\n').find((l) => /^#{1,6}\s/.test(l));
    if (heading !== undefined)
      this.term.print(`\n${this.term.bold(heading.replace(/^#+\s*/, ''))}`);
  }

  private showCell(cell: SessionCell, position: number, total: number): void {
    const badge =
      cell.class === 'mutating'
        ? this.term.red('mutating: changes production')
        : this.term.dim(cell.class ?? 'read-only');
    this.term.print(`\n${this.term.bold(`[${position}/${total}] ${cell.id}`)}  ${badge}`);
    const source = cell.source.replace(/\n+$/, '');
    if (source !== '') {
      this.term.print(
        this.term.dim(
          source
            .split('\n')
            .map((l) => `  │ ${l}`)
            .join('\n'),
        ),
      );
    }
  }

  /**
   * Requests an approval for a mutating cell and waits for its grant. Answers the
   * approval id, or undefined when the person declined to request one; throws when
   * the approval is denied, expires or is withdrawn.
   */
  private async approve(cell: SessionCell, signal: AbortSignal): Promise<string | undefined> {
    if (!this.options.yes) {
      const asked = this.term.interactive
        ? await this.term.confirm(`Cell ${cell.id} changes production. Request approval to run it?`)
        : false;
      if (!asked) {
        this.term.note(
          `Stopped before ${cell.id}: it changes production and needs approval` +
            (this.term.interactive ? '.' : ' (re-run with --yes to request it without a prompt).'),
        );
        this.results.push({ id: cell.id, class: 'mutating', status: 'not_run' });
        return undefined;
      }
    }
    let requested: ApprovalSummary;
    try {
      requested = await this.client.post<ApprovalSummary>('/v1/approvals', {
        session: this.session.id,
        cell: cell.id,
        reason: this.options.reason,
        ...(this.options.incident !== undefined && { incident: this.options.incident }),
      });
    } catch (err) {
      // A grant made in this session already (e.g. a re-run) is simply used.
      if (err instanceof ApiError && err.status === 409) {
        const open = await this.openApproval(cell.id);
        if (open !== undefined) requested = open;
        else throw err;
      } else {
        throw err;
      }
    }
    const id = requested.approval.id;
    this.term.note(
      `Approval ${this.term.bold(id)} requested: ${requested.progress.needed} approver(s) needed.\n` +
        `  Approvers: ${this.term.bold(`rungate approve ${id} --comment "…"`)} or ${this.client.pageUrl(`/approvals/${id}`)}`,
    );
    const granted = await this.waitForGrant(requested, signal);
    this.term.note(this.term.green(`✓ approval ${id} granted`));
    return granted;
  }

  private async openApproval(cellId: string): Promise<ApprovalSummary | undefined> {
    const { approvals } = await this.client.get<{ approvals: ApprovalSummary[] }>(
      `/v1/approvals?session=${this.session.id}&mine=true`,
    );
    return approvals.find(
      (a) =>
        a.approval.cell.id === cellId &&
        (a.approval.state === 'pending' || a.approval.state === 'approved'),
    );
  }

  private async waitForGrant(first: ApprovalSummary, signal: AbortSignal): Promise<string> {
    const id = first.approval.id;
    let current = first;
    this.term.startSpinner(
      `waiting for approval (${current.progress.approvers} of ${current.progress.needed})`,
    );
    try {
      for (;;) {
        switch (current.approval.state) {
          case 'approved':
            return id;
          case 'pending':
            break;
          default: {
            const why = current.approval.closeComment ? `: ${current.approval.closeComment}` : '';
            throw new CliError(
              `approval ${id} was ${current.approval.state}${why}`,
              ExitCode.Denied,
              `approval_${current.approval.state}`,
            );
          }
        }
        await abortableDelay(this.options.approvalPollMs ?? 2000, signal);
        current = await this.client.get<ApprovalSummary>(`/v1/approvals/${id}`);
        this.term.updateSpinner(
          `waiting for approval (${current.progress.approvers} of ${current.progress.needed})`,
        );
      }
    } finally {
      this.term.stopSpinner();
    }
  }

  /** Runs one cell with its outputs streaming; answers how it ended. */
  private async execute(
    cell: SessionCell,
    approval: string | undefined,
    signal: AbortSignal,
  ): Promise<ExecutionStatus> {
    const queued = await this.client.post<Execution>(
      `/v1/sessions/${this.session.id}/cells/${encodeURIComponent(cell.id)}/execute?wait=false`,
    );
    this.term.startSpinner(`running ${cell.id}`);
    const started = Date.now();
    let finished: Execution;
    try {
      this.events.show(queued.id);
      finished = await this.waitForExecution(queued.id, signal);
    } catch (err) {
      if (signal.aborted) {
        this.term.stopSpinner();
        await this.client.post(`/v1/sessions/${this.session.id}/interrupt`).catch(() => undefined);
        this.results.push({
          id: cell.id,
          class: cell.class ?? 'read-only',
          status: 'interrupted',
          execution: queued.id,
        });
        return 'interrupted';
      }
      throw err;
    } finally {
      this.term.stopSpinner();
    }
    // Outputs the stream did not deliver (it was not connected) are shown from the record.
    if (!this.events.streamed(queued.id)) {
      for (const output of finished.outputs)
        this.term.write(renderOutput(output, this.term.color, this.page));
    }
    const took = duration(elapsedOf(finished) ?? Date.now() - started);
    if (finished.status === 'ok') {
      this.term.note(this.term.green(`✓ ${cell.id}`) + this.term.dim(` ${took}`));
    } else {
      const why =
        finished.error !== null
          ? `: ${finished.error.ename}${finished.error.evalue ? ` ${finished.error.evalue}` : ''}${finished.error.reason ? ` (${finished.error.reason})` : ''}`
          : '';
      this.term.note(
        this.term.red(`✗ ${cell.id} ${finished.status}${why}`) + this.term.dim(` ${took}`),
      );
    }
    if (finished.truncated)
      this.term.note(this.term.yellow(`  output truncated; see ${this.page}`));
    this.results.push({
      id: cell.id,
      class: cell.class ?? 'read-only',
      status: finished.status,
      execution: finished.id,
      ...(elapsedOf(finished) !== undefined && { durationMs: elapsedOf(finished) }),
      ...(approval !== undefined && { approval }),
      outputs: finished.outputs,
    });
    return finished.status;
  }

  /**
   * Waits for the execution to finish: the stream's `execution.finished` normally, with
   * a slow poll of the record as a backstop should the stream break.
   */
  private async waitForExecution(id: string, signal: AbortSignal): Promise<Execution> {
    const path = `/v1/sessions/${this.session.id}/executions/${id}`;
    for (;;) {
      await this.events.finished(id, 2000, signal);
      const record = await this.client.get<Execution>(path);
      if (FINISHED.has(record.status)) return record;
      // Announced but not recorded yet (or the stream is gone): look again shortly.
      await abortableDelay(200, signal);
    }
  }
}

function elapsedOf(e: Execution): number | undefined {
  if (e.startedAt === null || e.finishedAt === null) return undefined;
  return Date.parse(e.finishedAt) - Date.parse(e.startedAt);
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new CliError('interrupted', ExitCode.Interrupted, 'interrupted'));
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CliError('interrupted', ExitCode.Interrupted, 'interrupted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
