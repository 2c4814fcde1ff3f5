import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APPROVAL_STATES } from '../approvals/approvals.types';
import type { ApprovalSummary, AuditEvent, RunbookSummary, SessionSummary } from './api-types';
import { CredentialStore, credentialsPath, gatewayKey } from './credentials';
import { CliError, ExitCode } from './errors';
import { EXPORT_FORMATS, exportSession, type ExportFormat } from './export';
import { ApiError, GatewayClient } from './gateway-client';
import { collectParam, type ParamAssignment } from './params';
import { abortableDelay, runRunbook } from './run-runbook';
import { deviceSignIn, revoke } from './signin';
import { Terminal, table, type Streams } from './terminal';
import { LINT_FORMATS } from '../curation/lint/format';
import { runLint, type LintCommandOptions } from './lint-command';
import { runConvert, runRunbookTests, type RunbookTestCliOptions } from './curation-commands';

/** Where the CLI runs: its streams, environment, and the signal Ctrl-C aborts. */
export interface CliContext {
  readonly streams: Streams;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
}

/** Options every command takes. */
interface GlobalOptions {
  readonly gateway: string;
  readonly json: boolean;
}

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

/** `--gateway`: an http(s) URL, kept without a trailing slash. */
export function parseGatewayUrl(value: string): string {
  const url = URL.parse(value);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidArgumentError('must be an http(s) URL such as https://rungate.example.com');
  }
  return gatewayKey(url.href);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new InvalidArgumentError('must be a whole number from 1 to 1000');
  }
  return n;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The `rungate` command line (commander); `main.ts` runs it, tests may build their own. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('rungate')
    .description(
      'Run audited runbooks through a rungate gateway: sign in, run cells, request and review approvals.',
    )
    .version(version(), '-V, --version')
    .addOption(
      new Option('--gateway <url>', 'gateway to talk to')
        .env('RUNGATE_URL')
        .default(DEFAULT_GATEWAY)
        .argParser(parseGatewayUrl),
    )
    .option('--json', 'machine-readable output on stdout (one JSON document)', false)
    // Usage errors are thrown (and mapped to exit code 2 by main), not exited on; set
    // before the commands are added, which inherit it.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure, 2 usage, 3 not signed in or sign-in too old for a decision,\n' +
        '4 not allowed or not approved, 5 a cell failed, 130 interrupted. See docs/cli.md.',
    );

  const setup = (cmd: Command) => {
    const opts = cmd.optsWithGlobals<GlobalOptions>();
    const store = new CredentialStore(credentialsPath(ctx.env));
    return {
      opts,
      store,
      term: new Terminal(opts.json, ctx.streams, ctx.env),
      client: new GatewayClient(opts.gateway, store),
    };
  };

  program
    .command('login')
    .description('sign in by the OIDC device flow: shows a URL and a code to enter in a browser')
    .action(async (_opts: unknown, cmd: Command) => {
      const { opts, store, term, client } = setup(cmd);
      const credentials = await signIn(client, term, ctx.signal);
      await store.put(opts.gateway, credentials);
      term.print(
        `Signed in to ${opts.gateway}${credentials.subject ? ` as ${credentials.subject}` : ''}.`,
      );
      term.result({
        gateway: opts.gateway,
        issuer: credentials.issuer,
        subject: credentials.subject ?? null,
        expiresAt: new Date(credentials.expiresAt).toISOString(),
        credentials: store.path,
      });
    });

  program
    .command('logout')
    .description('forget the tokens for the gateway (and revoke them at the issuer when it can)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { opts, store, term } = setup(cmd);
      const credentials = await store.get(opts.gateway);
      const revoked = credentials !== undefined && (await revoke(credentials));
      const removed = await store.remove(opts.gateway);
      term.print(removed ? `Signed out of ${opts.gateway}.` : `Not signed in to ${opts.gateway}.`);
      term.result({ gateway: opts.gateway, signedOut: removed, revoked });
    });

  program
    .command('runbooks')
    .description('list the runbooks you may run')
    .action(async (_opts: unknown, cmd: Command) => {
      const { term, client } = setup(cmd);
      const { runbooks } = await client.get<{ runbooks: RunbookSummary[] }>('/v1/runbooks');
      term.result({ runbooks });
      if (runbooks.length === 0) return term.print('No runbooks you may read.');
      term.print(
        table(
          runbooks.map((r) =>
            r.valid
              ? [
                  r.id,
                  r.environment ?? '',
                  r.mutatingCells && r.mutatingCells.length > 0 ? 'changes' : 'read-only',
                  r.title ?? '',
                ]
              : [r.id, '', term.red('invalid'), r.reason ?? ''],
          ),
          ['RUNBOOK', 'ENV', 'KIND', 'TITLE'],
        ),
      );
    });

  program
    .command('run')
    .description(
      'run a runbook: read-only cells in order with live output; a cell that changes production waits for approval',
    )
    .argument('<runbook>', 'catalog id, e.g. shop/stuck-jobs')
    .option(
      '-p, --param <key=value>',
      'a parameter value (repeatable); typed as the runbook declares it',
      collectParam,
      [] as ParamAssignment[],
    )
    .requiredOption('-r, --reason <text>', 'why you run it (recorded; also the approval reason)')
    .option('-i, --incident <id>', 'incident id, e.g. INC-4711')
    .option(
      '-y, --yes',
      'request approval for changing cells without asking (scripts, no terminal)',
      false,
    )
    .action(
      async (
        runbook: string,
        o: { param: ParamAssignment[]; reason: string; incident?: string; yes: boolean },
        cmd: Command,
      ) => {
        const { term, client } = setup(cmd);
        const result = await runRunbook(
          client,
          term,
          {
            runbook,
            params: o.param,
            reason: o.reason,
            ...(o.incident !== undefined && { incident: o.incident }),
            yes: o.yes,
          },
          ctx.signal,
        );
        term.result(result);
        switch (result.status) {
          case 'completed':
            term.note(term.green(`Runbook ${runbook} completed.`));
            return;
          case 'not_approved':
            throw new CliError(
              'stopped before a cell that changes production',
              ExitCode.Denied,
              'not_approved',
            );
          case 'failed':
            throw new CliError(
              'a cell failed; the session was ended',
              ExitCode.CellFailed,
              'cell_failed',
            );
          case 'interrupted':
            throw new CliError(
              'interrupted; the session was ended',
              ExitCode.Interrupted,
              'interrupted',
            );
        }
      },
    );

  program
    .command('sessions')
    .description('list your sessions, newest first')
    .option('--all', "everyone's sessions (needs session:read-any)", false)
    .addOption(
      new Option('--state <state>', 'only open or finished ones').choices(['open', 'over']),
    )
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .action(async (o: { all: boolean; state?: string; limit: number }, cmd: Command) => {
      const { term, client } = setup(cmd);
      const query = new URLSearchParams({ limit: String(o.limit) });
      if (o.all) query.set('all', 'true');
      if (o.state !== undefined) query.set('state', o.state);
      const { sessions } = await client.get<{ sessions: SessionSummary[] }>(
        `/v1/sessions?${query}`,
      );
      term.result({ sessions });
      if (sessions.length === 0) return term.print('No sessions.');
      term.print(
        table(
          sessions.map((s) => [s.id, s.runbook.id, s.state, s.owner.name, s.createdAt, s.reason]),
          ['SESSION', 'RUNBOOK', 'STATE', 'OWNER', 'STARTED', 'REASON'],
        ),
      );
    });

  program
    .command('approvals')
    .description('list approvals: your requests and those you may review')
    .addOption(
      new Option('--state <state>', 'only approvals in this state').choices(APPROVAL_STATES),
    )
    .option('--mine', 'only your own requests', false)
    .option('--session <id>', 'only those of one session')
    .action(async (o: { state?: string; mine: boolean; session?: string }, cmd: Command) => {
      const { term, client } = setup(cmd);
      const query = new URLSearchParams();
      if (o.state !== undefined) query.set('state', o.state);
      if (o.mine) query.set('mine', 'true');
      if (o.session !== undefined) query.set('session', o.session);
      const { approvals } = await client.get<{ approvals: ApprovalSummary[] }>(
        `/v1/approvals${query.size > 0 ? `?${query}` : ''}`,
      );
      term.result({ approvals });
      if (approvals.length === 0) return term.print('No approvals.');
      term.print(
        table(
          approvals.map(({ approval: a, progress, canApprove }) => [
            a.id,
            a.state,
            `${progress.approvers}/${progress.needed}`,
            `${a.runbook.id} ${a.cell.id}`,
            a.environment,
            a.requester.name,
            canApprove ? 'yes' : '',
            a.reason,
          ]),
          ['APPROVAL', 'STATE', 'VOTES', 'CELL', 'ENV', 'REQUESTER', 'YOU MAY REVIEW', 'REASON'],
        ),
      );
    });

  program
    .command('approve')
    .description('grant an approval (needs a recent sign-in)')
    .argument('<id>', 'approval id')
    .option('-c, --comment <text>', 'why you grant it (recorded)')
    .action(async (id: string, o: { comment?: string }, cmd: Command) => {
      const { opts, store, term, client } = setup(cmd);
      const summary = await decide(client, store, opts.gateway, term, ctx.signal, () =>
        client.post<ApprovalSummary>(`/v1/approvals/${encodeURIComponent(id)}/approve`, {
          ...(o.comment !== undefined && { comment: o.comment }),
        }),
      );
      term.result(summary);
      const { progress, approval } = summary;
      term.print(
        approval.state === 'approved'
          ? `Approved ${id}: quorum met (${progress.approvers} of ${progress.needed}); the requester may run the cell.`
          : `Granted ${id}: ${progress.approvers} of ${progress.needed} approvers so far.`,
      );
    });

  program
    .command('deny')
    .description('deny an approval; ends the request (needs a recent sign-in)')
    .argument('<id>', 'approval id')
    .requiredOption('-c, --comment <text>', 'why you deny it (recorded, shown to the requester)')
    .action(async (id: string, o: { comment: string }, cmd: Command) => {
      const { opts, store, term, client } = setup(cmd);
      const summary = await decide(client, store, opts.gateway, term, ctx.signal, () =>
        client.post<ApprovalSummary>(`/v1/approvals/${encodeURIComponent(id)}/deny`, {
          comment: o.comment,
        }),
      );
      term.result(summary);
      term.print(`Denied ${id}.`);
    });

  program
    .command('export')
    .description(
      "a session's run record: the executed notebook (ipynb), a self-contained report (html), or the report as a PDF",
    )
    .argument('<session>', 'session id')
    .addOption(
      new Option('-f, --format <format>', 'what to write').choices(EXPORT_FORMATS).default('ipynb'),
    )
    .option('-o, --output <file>', 'where to write it ("-" for standard output)')
    .action(async (session: string, o: { format: ExportFormat; output?: string }, cmd: Command) => {
      const { term, client } = setup(cmd);
      const data = await exportSession(client, session, o.format, ctx.env);
      if (o.output === '-') {
        ctx.streams.stdout.write(data);
        return;
      }
      const file = o.output ?? `rungate-session-${session}.${o.format}`;
      await writeFile(file, data);
      term.result({ session, format: o.format, file, bytes: data.length });
      term.print(`Wrote ${file} (${data.length} bytes).`);
    });

  const audit = program.command('audit').description('the audit trail (needs audit:read)');
  audit
    .command('tail')
    .description('the latest audit events, oldest first; --follow for new ones as they come')
    .option('--session <id>', 'only the events of one session')
    .option('-n, --limit <n>', 'how many recent events', positiveInt, 20)
    .option(
      '-f, --follow',
      'keep printing new events until Ctrl-C (JSON: one event per line)',
      false,
    )
    .action(async (o: { session?: string; limit: number; follow: boolean }, cmd: Command) => {
      const { term, client } = setup(cmd);
      const query = new URLSearchParams({ limit: String(o.limit) });
      if (o.session !== undefined) query.set('session', o.session);
      const page = await client.get<{ events: AuditEvent[] }>(`/v1/audit/events?${query}`);
      const events = [...page.events].reverse();
      if (!o.follow) {
        term.result({ events });
        for (const e of events) term.print(auditLine(e));
        return;
      }
      const seen = new Set<string>();
      const show = (e: AuditEvent) => {
        if (seen.has(e.id)) return;
        seen.add(e.id);
        if (term.json) ctx.streams.stdout.write(`${JSON.stringify(e)}\n`);
        else term.print(auditLine(e));
      };
      events.forEach(show);
      let since = events.at(-1)?.time;
      for (;;) {
        await abortableDelay(2000, ctx.signal);
        const next = new URLSearchParams(query);
        if (since !== undefined) next.set('from', since);
        const fresh = await client.get<{ events: AuditEvent[] }>(`/v1/audit/events?${next}`);
        for (const e of [...fresh.events].reverse()) show(e);
        since = fresh.events[0]?.time ?? since;
      }
    });

  program
    .command('convert')
    .description(
      'turn a runbook .ipynb into MyST Markdown (.md) or back, keeping cells, ids, tags and metadata',
    )
    .argument('<in>', 'a runbook file: .ipynb or .md')
    .option(
      '-o, --output <file>',
      'where to write it ("-" for standard output; default: <in> with the other extension)',
    )
    .action(async (input: string, o: { output?: string }, cmd: Command) => {
      const { term } = setup(cmd);
      await runConvert(input, o.output, term, ctx.streams);
    });

  program
    .command('test')
    .description(
      "run a runbook's parameters and read-only cells on a local kernel against non-production targets; fails with the cell and its traceback",
    )
    .argument('<runbook>', 'a runbook file, a folder of runbooks, or a catalog id')
    .option(
      '--target-env <env>',
      'environment of the targets to test against (never prod)',
      'staging',
    )
    .option(
      '--targets <file>',
      "targets file declaring the test environment's targets (default: RUNGATE_TARGETS_FILE)",
    )
    .option(
      '-p, --param <key=value>',
      'a parameter value (repeatable); over a folder, for the runbooks that declare it',
      collectParam,
      [] as ParamAssignment[],
    )
    .addOption(
      new Option('-f, --format <format>', 'report format')
        .choices(['text', 'junit'])
        .default('text'),
    )
    .option('-o, --output <file>', 'write the report to this file instead of standard output')
    .action(async (runbook: string, o: RunbookTestCliOptions, cmd: Command) => {
      const { term } = setup(cmd);
      await runRunbookTests(runbook, o, term, ctx);
    });

  program
    .command('lint')
    .description(
      'check runbooks before they are committed: nbformat, metadata, outputs and secrets, parameters, and untagged cells that change things (no gateway needed)',
    )
    .argument('[paths...]', 'runbook files or folders (default: runbooks)')
    .addOption(
      new Option('-f, --format <format>', 'report format').choices(LINT_FORMATS).default('text'),
    )
    .option('-c, --config <file>', 'rule levels (default: the nearest .rungate-lint.yaml)')
    .option('-o, --output <file>', 'write the report to this file instead of standard output')
    .action(async (paths: string[], o: LintCommandOptions, cmd: Command) => {
      const { json } = cmd.optsWithGlobals<GlobalOptions>();
      await runLint(paths, json ? { ...o, format: 'json' } : o, ctx.streams, ctx.env);
    });

  return program;
}

/**
 * A decision (approve, deny). When the gateway wants a more recent sign-in and a person
 * is at the terminal, signs them in again by the device flow and retries once;
 * otherwise says how to.
 */
async function decide<T>(
  client: GatewayClient,
  store: CredentialStore,
  gateway: string,
  term: Terminal,
  signal: AbortSignal,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'step_up_required') throw err;
    const maxAge = (err.problem.details as { maxAgeSeconds?: number } | undefined)?.maxAgeSeconds;
    const window = maxAge !== undefined ? ` (within ${Math.round(maxAge / 60)} min)` : '';
    if (!term.interactive) {
      throw new CliError(
        `deciding needs a recent sign-in${window} and yours is older: run \`rungate login\` and try again`,
        ExitCode.NotSignedIn,
        'step_up_required',
      );
    }
    term.note(term.yellow(`Deciding needs a recent sign-in${window}; signing you in again.`));
    await store.put(gateway, await signIn(client, term, signal));
    client.forgetCredentials();
    return call();
  }
}

async function signIn(client: GatewayClient, term: Terminal, signal: AbortSignal) {
  const auth = await client.authConfig();
  try {
    return await deviceSignIn(
      auth,
      (p) => {
        term.note(
          `To sign in, open this page in a browser and enter the code:\n` +
            `  ${p.verificationUri}\n  Code: ${term.bold(p.userCode)}\n` +
            (p.verificationUriComplete ? `  (or open ${p.verificationUriComplete})\n` : '') +
            term.dim(`  The code expires in ${Math.round(p.expiresInSeconds / 60)} min.`),
        );
        term.startSpinner('waiting for you to sign in');
      },
      signal,
    );
  } finally {
    term.stopSpinner();
  }
}

function auditLine(e: AuditEvent): string {
  const actor = e.actor?.name ?? e.actor?.sub ?? '-';
  const where = [e.session ? `session ${e.session}` : '', e.cell?.id ? `cell ${e.cell.id}` : '']
    .filter(Boolean)
    .join(' ');
  const outcome =
    typeof e.outcome === 'object' && e.outcome !== null && 'status' in e.outcome
      ? String((e.outcome as { status: unknown }).status)
      : typeof e.decision === 'object' && e.decision !== null && 'allowed' in e.decision
        ? (e.decision as { allowed: unknown }).allowed === true
          ? 'allowed'
          : 'denied'
        : '';
  return [e.time, e.severity.padEnd(8), e.type.padEnd(26), actor, where, outcome]
    .filter((part) => part !== '')
    .join('  ');
}
