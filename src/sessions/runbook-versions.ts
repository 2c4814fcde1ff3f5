/**
 * Version pinning: a session runs the runbook version it started with, whatever the
 * catalog holds since. A version is the catalog's current one, one this process has
 * seen, or the snapshot stored when a session pinned it.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { parseNotebook } from '../runbooks';
import { RunbooksService } from '../runbooks/runbooks.service';
import type { Runbook } from '../runbooks/runbooks.types';
import { SessionsRepository } from './sessions.repository';

@Injectable()
export class RunbookVersions {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runbooks: RunbooksService,
    private readonly repo: SessionsRepository,
  ) {}

  /** The version a new session pins: the current one unless another is asked for. */
  async resolve(id: string, version: string | undefined): Promise<Runbook> {
    const current = this.runbooks.get(id);
    if (version === undefined || version === current.version) return current;
    const pinned = await this.pinned(id, version);
    if (pinned) return pinned;
    throw new RungateError(
      ErrorCode.NotFound,
      `version ${version} of runbook ${id} is not available; the current version is ${current.version}`,
      { currentVersion: current.version },
    );
  }

  /** A version seen by this process, or stored when a session pinned it. */
  async pinned(id: string, version: string): Promise<Runbook | undefined> {
    const known = this.runbooks.getVersion(id, version);
    if (known) return known;
    const stored = await this.repo.snapshot(id, version);
    if (stored === undefined) return undefined;
    const parsed = parseNotebook(id, stored, {
      path: `${id}.ipynb`,
      defaultKernel: this.config.kernels.defaultKernel,
    });
    return parsed.valid ? parsed : undefined;
  }
}
