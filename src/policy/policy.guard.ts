import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { ErrorCode, RungateError } from '../common/errors';
import {
  AUTHORIZE_KEY,
  type AuthorizeMetadata,
  type PolicyRequest,
  type ResourceResolver,
} from './authorize.decorator';
import { PolicyService } from './policy.service';
import { IS_PUBLIC_KEY } from '../auth/public.decorator';
import { STEP_UP_KEY, assertRecentAuthentication, type StepUpRule } from '../auth/step-up';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';

/**
 * Enforces {@link Authorize} on every route; registered as `APP_GUARD` after the
 * auth guard. Fails closed: a route with neither `@Authorize` nor `@Public()` is
 * refused, so forgetting the decorator cannot open a route. A route marked
 * `@RequireRecentAuthentication()` (a decision: approve, deny, break glass) is allowed
 * only for a caller who signed in recently, after the policy allowed it (a refusal
 * that re-authenticating cannot change is answered first).
 */
@Injectable()
export class PolicyGuard implements CanActivate {
  private readonly logger = new Logger(PolicyGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
    private readonly policy: PolicyService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC_KEY, targets) === true)
      return true;
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    const meta = this.reflector.getAllAndOverride<AuthorizeMetadata | undefined>(
      AUTHORIZE_KEY,
      targets,
    );
    if (context.getType() !== 'http' || meta === undefined) {
      this.logger.error(`refused ${route}: the route has neither @Authorize nor @Public`);
      throw new RungateError(ErrorCode.Forbidden, 'this route has no authorization rule', {
        action: null,
        rule: null,
      });
    }
    const request = context.switchToHttp().getRequest<PolicyRequest>();
    const principal = request.principal;
    if (principal === undefined) {
      // The auth guard runs first; reaching here without a principal is a wiring fault.
      throw new RungateError(ErrorCode.Unauthenticated, 'this route needs an authenticated caller');
    }
    let action = meta.action;
    let decision;
    if (meta.resolver) {
      const { action: narrowed, ...resource } = await this.resolver(meta.resolver).resolve(request);
      action = narrowed ?? meta.action;
      decision = this.policy.authorize(principal, action, resource);
    } else {
      decision = this.policy.authorizeAny(principal, meta.action);
    }
    request.policyDecision = decision;
    if (!decision.allowed) {
      throw new RungateError(ErrorCode.Forbidden, `not allowed: ${action}`, {
        action,
        rule: decision.rule,
        reason: decision.reason,
      });
    }
    const stepUp = this.reflector.get<StepUpRule | undefined>(STEP_UP_KEY, context.getHandler());
    if (stepUp !== undefined && (stepUp.when?.(request) ?? true)) {
      assertRecentAuthentication(principal, this.config.auth.stepUpMaxAgeSec);
    }
    return true;
  }

  private resolver(type: AuthorizeMetadata['resolver'] & object): ResourceResolver {
    // strict: false finds the provider in whichever module declares it.
    return this.moduleRef.get(type, { strict: false });
  }
}
