import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { checkKernelLanguage } from './kernel-language';
import { applyLint, RunbookLinter } from './lint';
import { RunbookFiles, type StopWatching } from './runbook-files';
import { RunbookKernelspecs } from './runbook-kernelspecs';
import { parseRunbookSource } from './runbook-source';
import type { InvalidRunbook, Runbook } from './runbooks.types';

/** Called with a catalog id whose entry was added, changed, removed or became invalid. */
export type CatalogListener = (id: string) => void;

/** How long file events are gathered before one rescan (editors write in several steps). */
const SETTLE_MS = 75;

/**
 * The runbook catalog: every notebook under `runbooks.dir`, re-read when files change.
 * Every valid version seen in this process stays retrievable, so a session pinned to a
 * version keeps running it after the file changes.
 */
@Injectable()
export class RunbooksService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RunbooksService.name);
  private current = new Map<string, Runbook | InvalidRunbook>();
  private readonly versions = new Map<string, Map<string, Runbook>>();
  private readonly listeners = new Set<CatalogListener>();
  private stopWatching: StopWatching | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly files: RunbookFiles,
    private readonly kernelspecs: RunbookKernelspecs,
    private readonly linter: RunbookLinter,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.stopWatching = await this.files.watch(
      this.config.runbooks.dir,
      () => this.scheduleReload(),
      (err) =>
        this.logger.warn(`watching ${this.config.runbooks.dir} failed: ${(err as Error).message}`),
    );
    const entries = [...this.current.values()];
    const bad = entries.filter((e) => !e.valid).length;
    this.logger.log(
      `catalog: ${entries.length - bad} runbooks, ${bad} invalid, from ${this.config.runbooks.dir}`,
    );
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.stopWatching?.();
    this.stopWatching = null;
    await this.reloading;
  }

  /** Every notebook in the catalog, valid or not, ordered by id. */
  list(): Array<Runbook | InvalidRunbook> {
    return [...this.current.values()];
  }

  /** The current version of a valid runbook. */
  get(id: string): Runbook {
    const entry = this.current.get(id);
    if (!entry) throw new RungateError(ErrorCode.NotFound, `no runbook ${id}`, { runbook: id });
    if (!entry.valid) {
      throw new RungateError(
        ErrorCode.RunbookInvalid,
        `runbook ${id} is invalid: ${entry.reason}`,
        {
          runbook: id,
          reason: entry.reason,
        },
      );
    }
    return entry;
  }

  /** A version seen by this process (current or earlier), if any. */
  getVersion(id: string, version: string): Runbook | undefined {
    return this.versions.get(id)?.get(version);
  }

  onChange(listener: CatalogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the whole folder now; concurrent calls share one pass and coalesce. */
  async reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          await this.reloadOnce();
        } while (this.reloadAgain);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  private scheduleReload(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reload().catch((err: unknown) =>
        this.logger.error(`catalog reload failed: ${(err as Error).message}`),
      );
    }, SETTLE_MS);
  }

  private async reloadOnce(): Promise<void> {
    const { dir, maxFileBytes } = this.config.runbooks;
    const found = await this.files.scan(dir, maxFileBytes);
    const languages = this.kernelspecs.languages();
    // Linted before versions are recorded, so a runbook with lint errors is never served.
    const lint = await this.linter.lintFiles(found);
    const next = new Map<string, Runbook | InvalidRunbook>();
    for (const file of found) {
      const parsed: Runbook | InvalidRunbook =
        'error' in file
          ? { valid: false, id: file.id, path: file.path, reason: file.error }
          : parseRunbookSource(file.id, file.content, file.format, {
              defaultKernel: this.config.kernels.defaultKernel,
              path: file.path,
            });
      // Checked before versions are recorded, so no kernel-less version is ever served.
      const entry = applyLint(
        parsed.valid ? checkKernelLanguage(parsed, languages) : parsed,
        lint.get(file.id),
      );
      if (entry.valid) {
        let seen = this.versions.get(entry.id);
        if (!seen) this.versions.set(entry.id, (seen = new Map()));
        // One object per version, so `get` and `getVersion` hand out the same snapshot.
        const known = seen.get(entry.version);
        if (known && known.path === entry.path) {
          next.set(file.id, known);
          continue;
        }
        seen.set(entry.version, entry);
      }
      next.set(file.id, entry);
    }
    const changed: string[] = [];
    for (const [id, entry] of next) {
      if (!sameEntry(this.current.get(id), entry)) changed.push(id);
    }
    for (const id of this.current.keys()) if (!next.has(id)) changed.push(id);
    this.current = next;
    for (const id of changed) {
      const entry = next.get(id);
      if (!entry) this.logger.log(`runbook ${id} removed`);
      else if (entry.valid)
        this.logger.log(`runbook ${id} loaded, version ${entry.version.slice(0, 12)}`);
      else this.logger.warn(`runbook ${id} is invalid: ${entry.reason}`);
      for (const listener of this.listeners) {
        try {
          listener(id);
        } catch (err) {
          this.logger.error(`catalog listener failed: ${(err as Error).message}`);
        }
      }
    }
  }
}

function sameEntry(a: Runbook | InvalidRunbook | undefined, b: Runbook | InvalidRunbook): boolean {
  if (!a || a.valid !== b.valid) return false;
  if (a.valid && b.valid) return a.version === b.version && a.path === b.path;
  if (!a.valid && !b.valid) return a.reason === b.reason;
  return false;
}
