import type { RunbookDiff, RunbookVersionEntry } from './catalog-history';
import type {
  InvalidRunbookDto,
  RunbookDetailDto,
  RunbookDiffDto,
  RunbookSummaryDto,
  RunbookVersionsDto,
} from './dto/runbook.responses';
import type { InvalidRunbook, Runbook } from './runbooks.types';

/** A catalog entry as listed: a valid runbook's header, or an invalid one with its reason. */
export function runbookSummary(r: Runbook | InvalidRunbook): RunbookSummaryDto | InvalidRunbookDto {
  return r.valid ? validSummary(r) : { id: r.id, valid: false, reason: r.reason };
}

/** One runbook with its cells and parameters. */
export function runbookDetail(r: Runbook): RunbookDetailDto {
  return {
    ...validSummary(r),
    cells: r.cells.map((c) => ({
      id: c.id,
      index: c.index,
      type: c.type,
      class: c.class,
      tags: c.tags,
      source: c.source,
      sha256: c.sha256,
    })),
    parameters: r.parameters && {
      cell: r.parameters.cellId,
      schema: r.parameters.schema,
      defaults: r.parameters.defaults,
    },
  };
}

function validSummary(r: Runbook): RunbookSummaryDto {
  return {
    id: r.id,
    valid: true,
    version: r.version,
    ...(r.commit !== undefined ? { commit: r.commit } : {}),
    title: r.title,
    description: r.description,
    owner: r.owner,
    environment: r.environment,
    targets: r.targets,
    kernel: r.kernel,
    mutatingCells: r.cells.filter((c) => c.class === 'mutating').map((c) => c.id),
    hasParameters: r.parameters !== null,
    warnings: r.warnings,
  };
}

/** The versions of one runbook, newest first. */
export function runbookVersions(id: string, versions: RunbookVersionEntry[]): RunbookVersionsDto {
  return {
    id,
    versions: versions.map((v) => ({
      version: v.version,
      commit: v.commit,
      firstSeen: v.firstSeen.toISOString(),
      current: v.current,
    })),
  };
}

/** A cell-by-cell diff of two versions. */
export function runbookDiff(id: string, d: RunbookDiff): RunbookDiffDto {
  return {
    id,
    from: d.from.version,
    to: d.to.version,
    fromCommit: d.from.commit ?? null,
    toCommit: d.to.commit ?? null,
    cells: d.cells.map((c) => ({
      ...c,
      fromTags: c.fromTags && [...c.fromTags],
      toTags: c.toTags && [...c.toTags],
      lines: c.lines.map((l) => ({ op: l.op, text: l.text })),
    })),
  };
}
