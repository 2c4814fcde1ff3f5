import type { LanguageInfo } from '../messages';
import type { KernelLanguageAdapter } from './kernel-language';
import { pythonAdapter } from './python';

/** Every adapter, by the lower-case language name it serves. */
const ADAPTERS: ReadonlyMap<string, KernelLanguageAdapter> = new Map(
  [pythonAdapter].map((a) => [a.language, a]),
);

/**
 * The adapter for a kernel's language: its `language_info` (from kernel_info_reply),
 * or a kernelspec's `language` before the kernel runs. Names compare case-insensitively
 * (kernelspecs write `Python` as well as `python`); undefined when rungate cannot
 * drive kernels of that language.
 */
export function adapterFor(language: string | LanguageInfo): KernelLanguageAdapter | undefined {
  const name = typeof language === 'string' ? language : language.name;
  return ADAPTERS.get(name.trim().toLowerCase());
}

/** The languages that have an adapter, sorted. */
export function supportedLanguages(): string[] {
  return [...ADAPTERS.keys()].sort();
}

/** Why a kernel of `language` cannot be used (a runbook's invalid reason, an error message). */
export function noAdapterReason(language: string): string {
  return `no kernel-language adapter for ${language}; rungate supports: ${supportedLanguages().join(', ')}`;
}
