import { adapterFor, noAdapterReason } from '../kernels/languages';
import type { InvalidRunbook, Runbook } from './runbooks.types';

/** The `language` of each kernelspec found, by kernelspec name (lower case, as kernels name them). */
export type KernelspecLanguages = ReadonlyMap<string, string>;

/**
 * A runbook can only run in a kernel whose language rungate has an adapter for (to
 * set its environment, pass trace context and write its parameters cell). Before any
 * kernel runs, the language is the kernelspec's `language`. A runbook naming a
 * kernelspec that is not installed is left as it is: starting a session reports that.
 */
export function checkKernelLanguage(
  runbook: Runbook,
  languages: KernelspecLanguages,
): Runbook | InvalidRunbook {
  const language = languages.get(runbook.kernel.toLowerCase());
  if (language === undefined || adapterFor(language)) return runbook;
  return { valid: false, id: runbook.id, path: runbook.path, reason: noAdapterReason(language) };
}
