import { Injectable } from '@nestjs/common';
import { ApprovalsService } from '../approvals';
import { ErrorCode, RungateError } from '../common/errors';
import type {
  PolicyRequest,
  ResolvedResource,
  ResourceResolver,
} from '../policy/authorize.decorator';
import type { PolicyResource } from '../policy/policy.types';
import { RunbooksService } from '../runbooks';
import { RUNBOOK_ID_PATTERN } from './dto/start-session.dto';
import { SessionsService } from './sessions.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The session id of a route's path, refused unless it is a UUID. */
function sessionIdOf(req: PolicyRequest): string {
  const id = req.params?.id ?? '';
  if (!UUID.test(id)) throw new RungateError(ErrorCode.InvalidRequest, 'session id must be a UUID');
  return id;
}

/**
 * A session route is about the session's runbook, environment and owner. For a caller
 * who is not the owner it also supplies the approval requests the session holds in
 * their review window: the facts on which policy lets a reviewer read it
 * (`session:read-as-reviewer`). Policy, not this resolver, decides who may review.
 */
@Injectable()
export class SessionResourceResolver implements ResourceResolver {
  constructor(
    private readonly sessions: SessionsService,
    private readonly approvals: ApprovalsService,
  ) {}

  async resolve(req: PolicyRequest): Promise<PolicyResource> {
    const id = sessionIdOf(req);
    const resource = await this.sessions.resourceOf(id);
    // The owner needs no facts; skipping them keeps the owner's hot path to one lookup.
    if (req.principal === undefined || req.principal.sub === resource.owner) return resource;
    return { ...resource, reviewing: await this.approvals.reviewing(id) };
  }
}

/**
 * Running a cell is about its session. The guard decides the one action the request
 * needs, once: running a cell that changes production is `cell:execute-mutating`
 * (its approval is checked at execution), breaking glass on one is `breakglass`,
 * anything else `cell:execute`. The handler hands that decision to the service,
 * which never asks again.
 */
@Injectable()
export class CellResourceResolver implements ResourceResolver {
  constructor(private readonly sessions: SessionsService) {}

  async resolve(req: PolicyRequest): Promise<ResolvedResource> {
    const id = sessionIdOf(req);
    const resource = await this.sessions.resourceOf(id);
    const breakGlass = (req.body as { breakGlass?: unknown } | undefined)?.breakGlass;
    const mutating = (await this.sessions.cellClassOf(id, req.params?.cellId ?? '')) === 'mutating';
    if (!mutating) return resource;
    return {
      ...resource,
      action: breakGlass === undefined ? 'cell:execute-mutating' : 'breakglass',
    };
  }
}

/**
 * Starting a session is about the requested runbook in its environment. An unknown
 * runbook resolves to an environment no rule names, so it is refused unless the
 * caller could start anything — and then the handler answers 404.
 */
@Injectable()
export class StartSessionResourceResolver implements ResourceResolver {
  constructor(
    private readonly runbooks: RunbooksService,
    private readonly sessions: SessionsService,
  ) {}

  async resolve(req: PolicyRequest): Promise<PolicyResource> {
    const body = (req.body ?? {}) as { runbook?: unknown };
    // The guard runs before the body is validated: what is no catalog id is decided
    // (and recorded) as such, and validation answers 400 after.
    const id = isRunbookId(body.runbook) ? body.runbook : NOT_A_RUNBOOK_ID;
    const found = this.runbooks.list().find((r) => r.id === id);
    // A runbook whose label disagrees with its targets is refused here already.
    return {
      runbook: id,
      environment: found?.valid ? this.sessions.environmentOf(found) : '(unknown)',
    };
  }
}

/** What a start request's decision names when its body carries no catalog id. */
export const NOT_A_RUNBOOK_ID = '(not a runbook id)';

function isRunbookId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 200 && RUNBOOK_ID_PATTERN.test(value);
}
