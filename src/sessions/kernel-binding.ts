/**
 * What ties a kernel to a session: its targets forwarded, its credentials and
 * identity in its environment, the trace hook; and, for one approved cell, the
 * elevated credentials that exist for that cell only. Language specifics come from
 * the kernel-language adapter; pooled kernels start before any session exists, so
 * all of it is set by silent cells.
 */
import { Injectable, Logger } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { KernelsService } from '../kernels/kernels.service';
import type { Kernel } from '../kernels/kernels.types';
import { TargetsService } from '../targets/targets.service';
import type { SessionCredentials } from '../targets/targets.types';
import { adapterFor, noAdapterReason, type KernelLanguageAdapter } from '../kernels/languages';
import { SessionAudit } from './session-audit';
import type { PendingExecution, SessionRuntime } from './session-runtime';

/** Elevated credentials outlive their cell's timeout by this much, in case revocation is slow. */
const ELEVATION_GRACE_MS = 60_000;

/** Revokes one cell's elevation; never throws. */
export interface Elevation {
  revoke(): Promise<void>;
}

@Injectable()
export class KernelBinding {
  private readonly log = new Logger(KernelBinding.name);

  constructor(
    private readonly kernels: KernelsService,
    private readonly targets: TargetsService,
    private readonly audit: SessionAudit,
  ) {}

  /** A kernel of the session's runbook, set up for the session; shut down again if set-up fails. */
  async acquire(rt: SessionRuntime): Promise<Kernel> {
    const kernel = await this.kernels.acquire(rt.runbook.kernel);
    try {
      const language = this.languageOf(kernel);
      // In a sandbox the session's targets become reachable through forwarders that
      // relays in the kernel listen for.
      const relays = await kernel.forward(rt.routes);
      const env = {
        ...rt.credentials.env,
        RUNGATE_SESSION_ID: rt.id,
        RUNGATE_RUNBOOK: rt.runbook.id,
      };
      const code = `${language.startRelays(relays)}${language.setEnvironment(env)}\n${language.traceContextHook()}`;
      const setUp = await kernel.execute(code, { silent: true, storeHistory: false });
      if (setUp.status !== 'ok')
        throw new RungateError(
          ErrorCode.KernelUnavailable,
          'the kernel refused the session set-up',
        );
      rt.language = language;
      return kernel;
    } catch (err) {
      await kernel.shutdown().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Just-in-time elevation for one approved cell: credentials that exist for this
   * cell only, overlaid on the kernel's read-only ones. Revoking puts the read-only
   * values back, closes the forwarded connections opened since, and releases the
   * grants, however the cell ended.
   */
  async elevate(rt: SessionRuntime, kernel: Kernel, p: PendingExecution): Promise<Elevation> {
    const grants: SessionCredentials[] = [];
    // Connections the cell opens from here on may carry the elevated credentials.
    const mark = kernel.connectionMark();
    const revokeAll = async () => {
      kernel.closeConnections(mark);
      for (const g of grants) {
        let error: unknown;
        await g.release().catch((err: unknown) => {
          error = err;
          this.log.error({ err, session: rt.id }, 'elevated credential release failed');
        });
        await this.audit.credentialsRevoked(rt.session, g, error, p.record);
      }
    };
    try {
      for (const target of rt.session.targets) {
        const g = await this.targets.issueElevatedCredentials(
          target,
          {
            sessionId: rt.id,
            executionId: p.record.id,
            validForMs: p.timeoutMs + ELEVATION_GRACE_MS,
          },
          rt.routes.route,
        );
        grants.push(g);
        rt.redactor = rt.redactor.with(g.secrets);
        await this.audit.credentialsIssued(rt.session, g, p.record);
      }
      const env = Object.assign({}, ...grants.map((g) => g.env)) as Record<string, string>;
      const set = await kernel.execute(this.languageOf(kernel).setEnvironment(env), {
        silent: true,
        storeHistory: false,
      });
      if (set.status !== 'ok')
        throw new Error(`the kernel refused the elevated credentials (${set.status})`);
    } catch (err) {
      await revokeAll();
      throw err;
    }
    return {
      revoke: async () => {
        // Read-only values back first (the same variable names), then the grants go.
        if (kernel.status !== 'dead') {
          await kernel
            .execute(this.languageOf(kernel).setEnvironment({ ...rt.credentials.env }), {
              silent: true,
              storeHistory: false,
            })
            .catch(() => undefined);
        }
        await revokeAll();
      },
    };
  }

  /** The adapter of the kernel's language (its language_info); a language without one is refused. */
  private languageOf(kernel: Kernel): KernelLanguageAdapter {
    const adapter = adapterFor(kernel.language);
    if (!adapter)
      throw new RungateError(ErrorCode.KernelUnavailable, noAdapterReason(kernel.language));
    return adapter;
  }

  /** Shuts a kernel down, logging (not throwing) a failure. */
  async release(kernel: Kernel | null): Promise<void> {
    if (!kernel) return;
    await kernel
      .shutdown()
      .catch((err: unknown) => this.log.warn({ err }, 'kernel shutdown failed'));
  }
}
