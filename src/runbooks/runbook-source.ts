import { MystFormatError, mystToNotebook } from './myst';
import { parseNotebook } from './notebook';
import type { RunbookFormat } from './runbook-files';
import type { InvalidRunbook, ParseOptions, Runbook } from './runbooks.types';

/**
 * Parses a runbook file of either format. A MyST Markdown runbook is read into notebook
 * JSON first, so both formats are validated, normalized and versioned alike: a `.md`
 * and its `.ipynb` conversion have the same cells and the same version.
 */
export function parseRunbookSource(
  id: string,
  content: string,
  format: RunbookFormat,
  options: ParseOptions,
): Runbook | InvalidRunbook {
  if (format === 'ipynb') return parseNotebook(id, content, options);
  let notebook: Record<string, unknown>;
  try {
    notebook = mystToNotebook(content);
  } catch (err) {
    if (err instanceof MystFormatError)
      return { valid: false, id, path: options.path ?? id, reason: err.message };
    throw err;
  }
  return parseNotebook(id, JSON.stringify(notebook), options);
}
