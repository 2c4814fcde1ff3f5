import type { ComponentChildren } from 'preact';

/** What a runbook is about at a glance: who owns it, where it runs, what it reaches. */
export function RunbookFacts({
  runbook,
  inline = false,
  children,
}: {
  runbook: { owner?: string | null; environment: string; targets: readonly string[] };
  /** On one line (a runbook's own page) rather than stacked (a catalog card). */
  inline?: boolean;
  /** Further facts, as `<div><dt/><dd/></div>` pairs. */
  children?: ComponentChildren;
}) {
  return (
    <dl class={inline ? 'facts inline' : 'facts'}>
      <div>
        <dt>Owner</dt>
        <dd>{runbook.owner ?? '—'}</dd>
      </div>
      <div>
        <dt>Environment</dt>
        <dd>
          <span class={`env env-${runbook.environment}`}>{runbook.environment}</span>
        </dd>
      </div>
      <div>
        <dt>Targets</dt>
        <dd>{runbook.targets.join(', ') || 'none'}</dd>
      </div>
      {children}
    </dl>
  );
}
