import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import {
  defaultLintConfig,
  LINT_CONFIG_FILE,
  LintConfigError,
  loadLintConfig,
  type LintConfig,
} from '../curation/lint/config';
import { formatFindingShort } from '../curation/lint/format';
import { lintNotebooks, type LintInput } from '../curation/lint/linter';
import { defaultPython } from '../curation/lint/python-analyzer';
import { MystFormatError, mystToNotebook } from './myst';
import type { RunbookFile } from './runbook-files';
import type { InvalidRunbook, Runbook } from './runbooks.types';

/** What the linter says about one catalog file. */
export interface CatalogLint {
  /** Findings at level `error`: the runbook is invalid. */
  errors: string[];
  /** Findings at level `warning` or `note`: kept on the runbook. */
  warnings: string[];
}

/**
 * The catalog's side of the runbook linter (src/curation/lint, also `rungate lint`):
 * every notebook the catalog reads is linted with the rules of
 * `<runbooks dir>/.rungate-lint.yaml` (or the defaults), all files of a reload in one
 * Python process, and results are kept by content so an unchanged file is not linted
 * again. A finding at level `error` makes the runbook invalid, so it never reaches a
 * session; the others become the runbook's warnings.
 */
@Injectable()
export class RunbookLinter {
  private readonly logger = new Logger(RunbookLinter.name);
  private readonly cache = new Map<string, CatalogLint>();
  private readonly told = new Set<string>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async lintFiles(
    files: readonly RunbookFile[],
    /** The catalog folder whose `.rungate-lint.yaml` applies (a Git catalog: the commit's). */
    dir: string = this.config.runbooks.dir,
  ): Promise<Map<string, CatalogLint>> {
    const lintConfig = this.lintConfig(dir);
    const configKey = JSON.stringify([lintConfig.levels, lintConfig.allowSecrets.map(String)]);
    const out = new Map<string, CatalogLint>();
    const todo: Array<{ id: string; key: string; input: LintInput }> = [];
    for (const file of files) {
      if ('error' in file) continue;
      const key = createHash('sha256')
        .update(configKey)
        .update('\0')
        .update(file.content)
        .digest('hex');
      const cached = this.cache.get(key);
      if (cached) {
        out.set(file.id, cached);
        continue;
      }
      let input: LintInput = { path: file.path, content: file.content };
      if (file.format === 'myst') {
        try {
          input = { ...input, notebook: mystToNotebook(file.content) };
        } catch (err) {
          if (err instanceof MystFormatError) continue; // the parser reports it
          throw err;
        }
      }
      todo.push({ id: file.id, key, input });
    }
    if (todo.length === 0) return out;
    let result;
    try {
      result = await lintNotebooks(
        todo.map((t) => t.input),
        { config: lintConfig, python: defaultPython(this.config.rootDir) },
      );
    } catch (err) {
      // Fail closed: what the linter could not check does not reach a session.
      this.logger.error(`runbook lint failed: ${(err as Error).stack ?? String(err)}`);
      for (const t of todo)
        out.set(t.id, { errors: [`the linter failed: ${(err as Error).message}`], warnings: [] });
      return out;
    }
    if (result.pythonUnavailable) {
      this.tellOnce(`runbook lint: Python rules not checked: ${result.pythonUnavailable}`);
    }
    todo.forEach((t, k) => {
      const findings = result.reports[k]?.findings ?? [];
      const lint: CatalogLint = {
        errors: findings.filter((f) => f.severity === 'error').map(formatFindingShort),
        warnings: findings.filter((f) => f.severity !== 'error').map(formatFindingShort),
      };
      // Without the Python rules the result is partial: lint again at the next reload.
      if (!result.pythonUnavailable) this.cache.set(t.key, lint);
      out.set(t.id, lint);
    });
    if (this.cache.size > 10_000) this.cache.clear();
    return out;
  }

  private lintConfig(dir: string): LintConfig {
    const file = join(dir, LINT_CONFIG_FILE);
    if (!existsSync(file)) return defaultLintConfig();
    try {
      return loadLintConfig(file);
    } catch (err) {
      if (!(err instanceof LintConfigError)) throw err;
      this.tellOnce(`runbook lint: ${err.message}; using the default rule levels`);
      return defaultLintConfig();
    }
  }

  private tellOnce(message: string): void {
    if (this.told.has(message)) return;
    this.told.add(message);
    this.logger.warn(message);
  }
}

/** A parsed runbook with the linter's findings: invalid on any error, else warnings added. */
export function applyLint(
  entry: Runbook | InvalidRunbook,
  lint: CatalogLint | undefined,
): Runbook | InvalidRunbook {
  if (!entry.valid || !lint) return entry;
  if (lint.errors.length > 0) {
    return {
      valid: false,
      id: entry.id,
      path: entry.path,
      reason: `lint: ${lint.errors.join('; ')}`,
    };
  }
  if (lint.warnings.length === 0) return entry;
  return { ...entry, warnings: [...entry.warnings, ...lint.warnings] };
}
