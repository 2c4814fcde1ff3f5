import type {
  InvalidRunbookDto,
  RunbookDetailDto,
  RunbookSummaryDto,
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
