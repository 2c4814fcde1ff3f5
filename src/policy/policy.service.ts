import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { Action } from './actions';
import { CasbinPolicy, PolicyFiles, type PolicyRule } from './casbin-policy';
import { decide, decideAny } from './decide';
import { PolicyWatcher } from './policy-watcher';
import type {
  Decision,
  DecisionKind,
  PolicyDecisionEvent,
  PolicyHealth,
  PolicyReloadEvent,
  PolicyResource,
  Quorum,
} from './policy.types';
import { DEFAULT_QUORUM } from './quorum';

type Listener<T> = (event: T) => void;

/**
 * The single entry point for authorization. Holds the policy in force, reloads it
 * when the files change, and tells listeners about every decision it makes.
 */
@Injectable()
export class PolicyService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PolicyService.name);
  private readonly dir: string;
  private readonly watch: boolean;
  private policy: CasbinPolicy | undefined;
  private lastError: string | undefined;
  private watcher: PolicyWatcher | undefined;
  /** Reloads run one after another; a change during a reload queues exactly one more. */
  private reloading: Promise<PolicyReloadEvent> | undefined;
  private reloadAgain = false;
  private readonly decisionListeners = new Set<Listener<PolicyDecisionEvent>>();
  private readonly reloadListeners = new Set<Listener<PolicyReloadEvent>>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.dir = config.policy.dir;
    this.watch = config.policy.watch;
  }

  /** Start-up refuses a policy that does not load: a gateway that cannot decide must not serve. */
  async onModuleInit(): Promise<void> {
    this.policy = await CasbinPolicy.load(this.dir);
    this.logger.log(`policy loaded from ${this.dir} (${this.policy.rules.length} rules)`);
    if (this.watch) {
      this.watcher = new PolicyWatcher(
        this.dir,
        Object.values(PolicyFiles),
        () => void this.reload(),
        (err) => this.logger.error(`watching ${this.dir} failed: ${String(err)}`),
      );
      await this.watcher.start();
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.watcher?.stop();
  }

  /**
   * Decides whether `principal` may do `action` on `resource`. When `resource.owner`
   * is given, differs from `principal.sub` and the action is owner-scoped, the
   * principal also needs `session:read-any` on the same runbook and environment.
   */
  authorize(principal: Principal, action: Action, resource: PolicyResource): Decision {
    return this.decide(principal, action, resource, 'authorize');
  }

  /**
   * Whether the principal holds `action` on at least one runbook in one
   * environment; for list endpoints, which then {@link filter} what they list.
   */
  authorizeAny(principal: Principal, action: Action): Decision {
    const decision = decideAny(this.policy, principal, action);
    this.emit(principal, decision, 'authorize-any');
    return decision;
  }

  /** The items the principal may do `action` on; each check is a recorded decision. */
  filter<T>(
    principal: Principal,
    action: Action,
    items: Iterable<T>,
    toResource: (item: T) => PolicyResource,
  ): T[] {
    const out: T[] = [];
    for (const item of items) {
      if (this.decide(principal, action, toResource(item), 'filter').allowed) out.push(item);
    }
    return out;
  }

  /** Approvals a mutating cell of `runbook` in `environment` needs (see `policies/approvals.csv`). */
  quorumFor(runbook: string, environment: string): Quorum {
    return this.policy?.quorumFor(runbook, environment) ?? DEFAULT_QUORUM;
  }

  health(): PolicyHealth {
    const policy = this.policy;
    return {
      ok: policy !== undefined && this.lastError === undefined,
      ...(this.lastError !== undefined ? { error: this.lastError } : {}),
      loadedAt: policy?.loadedAt.toISOString(),
      files: policy?.files ?? [],
    };
  }

  /** The rules in force (which may be older than the files, after a broken edit) and their health. */
  inForce(): PolicyHealth & { rules: readonly PolicyRule[] } {
    return { ...this.health(), rules: this.policy?.rules ?? [] };
  }

  /** Every decision, allow or deny, reaches each listener; returns an unsubscribe function. */
  onDecision(listener: Listener<PolicyDecisionEvent>): () => void {
    this.decisionListeners.add(listener);
    return () => this.decisionListeners.delete(listener);
  }

  /** Every reload attempt, good or bad; returns an unsubscribe function. */
  onReload(listener: Listener<PolicyReloadEvent>): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /**
   * Loads the files into a fresh enforcer and swaps it in; on failure the policy in
   * force stays and {@link health} reports the error. Called by the watcher.
   */
  reload(): Promise<PolicyReloadEvent> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = async (): Promise<PolicyReloadEvent> => {
      let event: PolicyReloadEvent;
      do {
        this.reloadAgain = false;
        event = await this.loadOnce();
        for (const listener of this.reloadListeners) this.call(listener, event);
      } while (this.reloadAgain);
      return event;
    };
    const promise = run().finally(() => {
      this.reloading = undefined;
    });
    this.reloading = promise;
    return promise;
  }

  private async loadOnce(): Promise<PolicyReloadEvent> {
    try {
      const fresh = await CasbinPolicy.load(this.dir);
      // One assignment: checks hold either the old or the new policy, never a mix.
      this.policy = fresh;
      if (this.lastError !== undefined) this.logger.log('policy files are valid again');
      this.lastError = undefined;
      this.logger.log(`policy reloaded from ${this.dir} (${fresh.rules.length} rules)`);
      return { ok: true, loadedAt: fresh.loadedAt.toISOString() };
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.logger.error(
        `policy reload failed, keeping the policy loaded at ${this.health().loadedAt}: ${this.lastError}`,
      );
      return { ok: false, error: this.lastError, loadedAt: new Date().toISOString() };
    }
  }

  private decide(
    principal: Principal,
    action: Action,
    resource: PolicyResource,
    kind: DecisionKind,
  ): Decision {
    const decision = decide(this.policy, principal, action, resource);
    this.emit(principal, decision, kind);
    return decision;
  }

  private emit(principal: Principal, decision: Decision, kind: DecisionKind): void {
    const event: PolicyDecisionEvent = { principal, decision, kind, at: new Date() };
    for (const listener of this.decisionListeners) this.call(listener, event);
  }

  /** A failing listener is logged and must not change the decision or starve the others. */
  private call<T>(listener: Listener<T>, event: T): void {
    try {
      listener(event);
    } catch (err) {
      this.logger.error(
        `policy listener failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
  }
}
