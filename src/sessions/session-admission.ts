/**
 * Whether a session may start: the open-session limits (each session holds a
 * kernel process), and a runbook whose environment label agrees with its targets.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { Runbook } from '../runbooks/runbooks.types';
import { TargetsService } from '../targets/targets.service';
import type { SessionRuntime } from './session-runtime';

@Injectable()
export class SessionAdmission {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly targets: TargetsService,
  ) {}

  /** Refuses a session past the limits, in all and per person (`409 busy`). */
  assertRoomFor(principal: Principal, held: Iterable<SessionRuntime>): void {
    const open = [...held].filter((rt) => !rt.ending);
    const mine = open.filter((rt) => rt.session.owner.sub === principal.sub);
    const { maxOpenPerUser, maxOpen } = this.config.sessions;
    if (mine.length >= maxOpenPerUser) {
      throw new RungateError(
        ErrorCode.Busy,
        `you already have ${mine.length} open sessions (the limit is ${maxOpenPerUser}); end one with DELETE /v1/sessions/{id}`,
        { open: mine.map((rt) => rt.id) },
      );
    }
    if (open.length >= maxOpen) {
      throw new RungateError(
        ErrorCode.Busy,
        `this gateway runs ${open.length} sessions, its limit; try again when one ends`,
      );
    }
  }

  /**
   * A session's environment is where its targets are: the policy and the quorum key
   * on it, so a runbook's own label must agree with them (a `staging` label on a
   * runbook that reaches a `prod` database would dodge the prod rules).
   */
  environmentOf(runbook: Runbook): string {
    const where = new Map<string, string[]>();
    for (const name of runbook.targets) {
      const env = this.targets.describe(name)?.environment;
      if (env !== undefined) where.set(env, [...(where.get(env) ?? []), name]);
    }
    const conflict = [...where].find(([env]) => env !== runbook.environment);
    if (conflict) {
      throw new RungateError(
        ErrorCode.RunbookInvalid,
        `runbook ${runbook.id} says it runs in "${runbook.environment}", but its target ` +
          `${conflict[1].join(', ')} is in "${conflict[0]}"`,
        { environment: runbook.environment, targets: Object.fromEntries(where) },
      );
    }
    return runbook.environment;
  }
}
