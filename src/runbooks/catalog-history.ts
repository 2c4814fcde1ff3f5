import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { diffLines, type DiffLine } from '../approvals/line-diff';
import { AuditService } from '../audit/audit.service';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { GatewayInstance } from '../db/gateway-instance';
import { CatalogRepository } from './catalog.repository';
import { parseNotebook } from './notebook';
import { RunbooksService, type CatalogUpdateListener } from './runbooks.service';
import type { CatalogUpdate, Runbook, RunbookCell } from './runbooks.types';

/** A version of a runbook the gateway has served. */
export interface RunbookVersionEntry {
  readonly version: string;
  readonly commit: string | null;
  readonly firstSeen: Date;
  readonly current: boolean;
}

/** How one cell differs between two versions. */
export interface CellChange {
  readonly id: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly type: RunbookCell['type'];
  readonly fromIndex: number | null;
  readonly toIndex: number | null;
  readonly fromClass: RunbookCell['class'];
  readonly toClass: RunbookCell['class'];
  readonly fromTags: readonly string[] | null;
  readonly toTags: readonly string[] | null;
  /** The source, line by line: kept, removed or added. */
  readonly lines: readonly DiffLine[];
}

export interface RunbookDiff {
  readonly from: Runbook;
  readonly to: Runbook;
  /** Cells added, removed or changed (source, type, class, tags or position), in `to` order then removed ones. */
  readonly cells: readonly CellChange[];
}

/**
 * The catalog's history: every version it served is stored (with its commit) where
 * sessions pin versions, each change is the audit event `catalog.updated`, and two
 * versions compare cell by cell.
 */
@Injectable()
export class CatalogHistory implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(CatalogHistory.name);
  private unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runbooks: RunbooksService,
    private readonly repo: CatalogRepository,
    private readonly audit: AuditService,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // What the catalog loaded at start-up (no event: nothing changed in this process).
    await this.repo
      .recordVersions(this.runbooks.list().filter((r): r is Runbook => r.valid))
      .catch((err: unknown) =>
        this.logger.warn(`could not store the catalog's versions: ${(err as Error).message}`),
      );
    this.unsubscribe = this.runbooks.onUpdate(this.changed);
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  private readonly changed: CatalogUpdateListener = async (update) => {
    const stored = [...update.added, ...update.changed]
      .map((v) => this.runbooks.getVersion(v.id, v.version))
      .filter((r): r is Runbook => r !== undefined);
    try {
      await this.repo.transaction(async (tx) => {
        await this.repo.recordVersions(stored, tx);
        if (!update.initial) await this.audit.record(tx, 'catalog.updated', this.event(update));
      });
    } catch (err) {
      this.logger.error(`could not record the catalog change: ${(err as Error).message}`);
    }
  };

  private event(update: CatalogUpdate) {
    const entry = (v: { id: string; version: string; commit?: string }) => ({
      id: v.id,
      version: v.version,
      ...(v.commit !== undefined ? { commit: v.commit } : {}),
    });
    return {
      outcome: { result: 'success' as const },
      details: {
        source: this.config.runbooks.git ? ('git' as const) : ('folder' as const),
        ...(update.commit !== undefined ? { commit: update.commit } : {}),
        ...(update.previousCommit !== undefined ? { previous_commit: update.previousCommit } : {}),
        instance: this.instance.id,
        added: update.added.map(entry),
        changed: update.changed.map((c) => ({ ...entry(c), previous_version: c.previous })),
        removed: update.removed.map(entry),
        invalid: update.invalid.map((i) => ({ id: i.id, reason: i.reason })),
      },
    };
  }

  /** The versions of `id` this gateway (and its replicas) served, newest first. */
  async versions(id: string): Promise<RunbookVersionEntry[]> {
    const current = this.currentVersion(id);
    const byVersion = new Map<string, RunbookVersionEntry>();
    for (const v of await this.repo.versions(id)) {
      byVersion.set(v.version, { ...v, current: v.version === current });
    }
    // Seen by this process but not stored (the database was unreachable then).
    for (const seen of this.runbooks.history(id)) {
      if (byVersion.has(seen.runbook.version)) continue;
      byVersion.set(seen.runbook.version, {
        version: seen.runbook.version,
        commit: seen.runbook.commit ?? null,
        firstSeen: seen.firstSeen,
        current: seen.runbook.version === current,
      });
    }
    if (byVersion.size === 0 && !this.runbooks.list().some((r) => r.id === id)) {
      throw new RungateError(ErrorCode.NotFound, `no runbook ${id}`, { runbook: id });
    }
    return [...byVersion.values()].sort(
      (a, b) => b.firstSeen.getTime() - a.firstSeen.getTime() || (a.version < b.version ? -1 : 1),
    );
  }

  /** Cell by cell, what changed from one version to another. */
  async diff(id: string, from: string, to: string): Promise<RunbookDiff> {
    const [a, b] = [await this.version(id, from), await this.version(id, to)];
    return { from: a, to: b, cells: diffCells(a.cells, b.cells) };
  }

  private currentVersion(id: string): string | undefined {
    const entry = this.runbooks.list().find((r) => r.id === id);
    return entry?.valid ? entry.version : undefined;
  }

  private async version(id: string, version: string): Promise<Runbook> {
    const known = this.runbooks.getVersion(id, version);
    if (known) return known;
    const stored = await this.repo.content(id, version);
    const parsed =
      stored &&
      parseNotebook(id, stored.content, {
        path: `${id}.ipynb`,
        defaultKernel: this.config.kernels.defaultKernel,
      });
    if (!stored || !parsed?.valid) {
      throw new RungateError(
        ErrorCode.NotFound,
        `version ${version} of runbook ${id} is not one this gateway has seen`,
        { runbook: id, version },
      );
    }
    return stored.commit ? { ...parsed, commit: stored.commit } : parsed;
  }
}

/** Cells matched by their nbformat id: added, removed, or changed in any way that matters. */
export function diffCells(a: readonly RunbookCell[], b: readonly RunbookCell[]): CellChange[] {
  const before = new Map(a.map((c) => [c.id, c]));
  const after = new Set(b.map((c) => c.id));
  const out: CellChange[] = [];
  for (const cell of b) {
    const was = before.get(cell.id);
    if (!was) {
      out.push({
        id: cell.id,
        change: 'added',
        type: cell.type,
        fromIndex: null,
        toIndex: cell.index,
        fromClass: null,
        toClass: cell.class,
        fromTags: null,
        toTags: cell.tags,
        lines: linesOf(cell.source).map((text) => ({ op: '+', text })),
      });
      continue;
    }
    const same =
      was.source === cell.source &&
      was.type === cell.type &&
      was.class === cell.class &&
      was.index === cell.index &&
      was.tags.join('\0') === cell.tags.join('\0');
    if (same) continue;
    out.push({
      id: cell.id,
      change: 'changed',
      type: cell.type,
      fromIndex: was.index,
      toIndex: cell.index,
      fromClass: was.class,
      toClass: cell.class,
      fromTags: was.tags,
      toTags: cell.tags,
      lines: diffLines(linesOf(was.source), linesOf(cell.source)),
    });
  }
  for (const was of a) {
    if (after.has(was.id)) continue;
    out.push({
      id: was.id,
      change: 'removed',
      type: was.type,
      fromIndex: was.index,
      toIndex: null,
      fromClass: was.class,
      toClass: null,
      fromTags: was.tags,
      toTags: null,
      lines: linesOf(was.source).map((text) => ({ op: '-', text })),
    });
  }
  return out;
}

function linesOf(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
