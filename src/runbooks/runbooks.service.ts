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
import { relative, sep } from 'node:path';
import { GitCatalogError, GitCatalogSource } from './git-catalog';
import { checkKernelLanguage } from './kernel-language';
import { applyLint, RunbookLinter } from './lint';
import { RunbookFiles, type RunbookFile, type StopWatching } from './runbook-files';
import { RunbookKernelspecs } from './runbook-kernelspecs';
import { parseRunbookSource } from './runbook-source';
import type { CatalogUpdate, CatalogVersionRef, InvalidRunbook, Runbook } from './runbooks.types';

/** Called with a catalog id whose entry was added, changed, removed or became invalid. */
export type CatalogListener = (id: string) => void;

/** Called once per reload that changed the catalog, with the whole change. */
export type CatalogUpdateListener = (
  update: CatalogUpdate & { readonly initial: boolean },
) => void | Promise<void>;

/** A version this process has served, and when it first did. */
export interface SeenVersion {
  readonly runbook: Runbook;
  readonly firstSeen: Date;
}

/** What a refresh of a Git catalog found. */
export interface CatalogRefresh {
  /** The commit served now. */
  readonly commit: string | null;
  /** Whether the catalog changed (a new commit that changed runnable runbooks). */
  readonly changed: boolean;
}

/** How long file events are gathered before one rescan (editors write in several steps). */
const SETTLE_MS = 75;

/**
 * The runbook catalog: every notebook under `runbooks.dir`, re-read when files change;
 * or, with `runbooks.git`, every notebook of a Git ref's commit, fetched on a timer and
 * on `refresh()`. Every valid version seen in this process stays retrievable, so a
 * session pinned to a version keeps running it after the file or the ref changes.
 */
@Injectable()
export class RunbooksService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RunbooksService.name);
  private current = new Map<string, Runbook | InvalidRunbook>();
  private readonly versions = new Map<string, Map<string, SeenVersion>>();
  private readonly listeners = new Set<CatalogListener>();
  private readonly updateListeners = new Set<CatalogUpdateListener>();
  /** The Git commit served, with a Git catalog. */
  private commit: string | undefined;
  private loaded = false;
  private poll: NodeJS.Timeout | null = null;
  private stopWatching: StopWatching | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly files: RunbookFiles,
    private readonly kernelspecs: RunbookKernelspecs,
    private readonly linter: RunbookLinter,
    private readonly gitSource: GitCatalogSource,
  ) {}

  async onModuleInit(): Promise<void> {
    const git = this.config.runbooks.git;
    if (git) {
      // An unreachable repository at start-up leaves the catalog empty until a poll succeeds.
      await this.reload().catch((err: unknown) => this.logFailure(err));
      // Whatever a later poll loads is a change to what was served (nothing, if this failed).
      this.loaded = true;
      this.poll = setInterval(() => {
        this.reload().catch((err: unknown) => this.logFailure(err));
      }, git.pollIntervalMs);
      this.poll.unref();
      this.logger.log(
        `catalog: ${this.current.size} runbooks from ${git.ref} at ${this.commit ?? '(not fetched yet)'}`,
      );
      return;
    }
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
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
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
    return this.versions.get(id)?.get(version)?.runbook;
  }

  /** The versions of `id` this process has served, newest first. */
  history(id: string): SeenVersion[] {
    return [...(this.versions.get(id)?.values() ?? [])].sort(
      (a, b) => b.firstSeen.getTime() - a.firstSeen.getTime(),
    );
  }

  onChange(listener: CatalogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onUpdate(listener: CatalogUpdateListener): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  /**
   * Fetches the followed ref now (the push webhook) and loads its commit if it is new;
   * a folder catalog is re-read. Fails when the repository cannot be fetched or the
   * commit is refused; the catalog then stays as it was.
   */
  async refresh(): Promise<CatalogRefresh> {
    const before = this.commit;
    const beforeEntries = this.current;
    try {
      await this.reload();
    } catch (err) {
      if (!(err instanceof GitCatalogError)) throw err;
      throw new RungateError(
        ErrorCode.Unavailable,
        `the catalog's Git repository could not be read; the catalog is unchanged: ${err.message}`,
      );
    }
    return {
      commit: this.commit ?? null,
      changed: this.commit !== before || this.current !== beforeEntries,
    };
  }

  private logFailure(err: unknown): void {
    if (err instanceof GitCatalogError) this.logger.warn(`catalog not refreshed: ${err.message}`);
    else this.logger.error(`catalog reload failed: ${(err as Error).message}`);
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

  /** The files to load, with the commit they come from (Git), or null when nothing is new. */
  private async source(): Promise<{ files: RunbookFile[]; dir: string; commit?: string } | null> {
    const { dir, maxFileBytes, git } = this.config.runbooks;
    if (!git) return { files: await this.files.scan(dir, maxFileBytes), dir };
    const commit = await this.gitSource.fetch();
    if (commit === this.commit) return null;
    const tree = await this.gitSource.tree(commit);
    const files = await this.files.scan(tree.dir, maxFileBytes);
    // Paths as in the repository, so that the same file at two commits is the same path.
    const inRepo = (path: string) =>
      [git.subdir, ...relative(tree.dir, path).split(sep)].filter((p) => p !== '').join('/');
    return { files: files.map((f) => ({ ...f, path: inRepo(f.path) })), dir: tree.dir, commit };
  }

  private async reloadOnce(): Promise<void> {
    const source = await this.source();
    if (source === null) return;
    const found = source.files;
    const seenAt = new Date();
    const languages = this.kernelspecs.languages();
    // Linted before versions are recorded, so a runbook with lint errors is never served.
    const lint = await this.linter.lintFiles(found, source.dir);
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
        if (known && known.runbook.path === entry.path) {
          next.set(file.id, known.runbook);
          continue;
        }
        const versioned: Runbook =
          source.commit !== undefined
            ? { ...entry, commit: await this.gitSource.lastChange(source.commit, entry.path) }
            : entry;
        seen.set(entry.version, { runbook: versioned, firstSeen: known?.firstSeen ?? seenAt });
        next.set(file.id, versioned);
        continue;
      }
      next.set(file.id, entry);
    }
    const changed: string[] = [];
    for (const [id, entry] of next) {
      if (!sameEntry(this.current.get(id), entry)) changed.push(id);
    }
    for (const id of this.current.keys()) if (!next.has(id)) changed.push(id);
    const previous = this.current;
    const previousCommit = this.commit;
    const initial = !this.loaded;
    this.loaded = true;
    if (source.commit !== undefined) {
      this.commit = source.commit;
      await this.gitSource.prune(source.commit);
    }
    if (changed.length === 0) return;
    this.current = next;
    await this.emitUpdate({
      initial,
      ...(source.commit !== undefined ? { commit: source.commit } : {}),
      ...(previousCommit !== undefined ? { previousCommit } : {}),
      ...catalogChange(previous, next),
    });
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

  /** Awaited, so that a refresh answers once the change is recorded. */
  private async emitUpdate(update: CatalogUpdate & { initial: boolean }): Promise<void> {
    for (const listener of this.updateListeners) {
      try {
        await listener(update);
      } catch (err) {
        this.logger.error(`catalog update listener failed: ${(err as Error).message}`);
      }
    }
  }
}

function catalogChange(
  before: ReadonlyMap<string, Runbook | InvalidRunbook>,
  after: ReadonlyMap<string, Runbook | InvalidRunbook>,
): Pick<CatalogUpdate, 'added' | 'changed' | 'removed' | 'invalid'> {
  const ref = (r: Runbook): CatalogVersionRef => ({
    id: r.id,
    version: r.version,
    ...(r.commit !== undefined ? { commit: r.commit } : {}),
  });
  const added: CatalogVersionRef[] = [];
  const changed: Array<CatalogVersionRef & { previous: string }> = [];
  const removed: CatalogVersionRef[] = [];
  const invalid: Array<{ id: string; reason: string }> = [];
  for (const [id, now] of after) {
    const was = before.get(id);
    if (!now.valid) {
      if (!was || was.valid || was.reason !== now.reason) invalid.push({ id, reason: now.reason });
      continue;
    }
    if (!was?.valid) added.push(ref(now));
    else if (was.version !== now.version) changed.push({ ...ref(now), previous: was.version });
  }
  for (const [id, was] of before) {
    if (was.valid && !after.get(id)?.valid) removed.push(ref(was));
  }
  return { added, changed, removed, invalid };
}

function sameEntry(a: Runbook | InvalidRunbook | undefined, b: Runbook | InvalidRunbook): boolean {
  if (!a || a.valid !== b.valid) return false;
  if (a.valid && b.valid) return a.version === b.version && a.path === b.path;
  if (!a.valid && !b.valid) return a.reason === b.reason;
  return false;
}
