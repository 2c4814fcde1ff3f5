import { Injectable } from '@nestjs/common';
import type { PolicyRequest, ResourceResolver } from '../policy/authorize.decorator';
import type { PolicyResource } from '../policy/policy.types';
import { RunbooksService } from './runbooks.service';

/** `GET /runbooks/{id}` is about that runbook in its environment. */
@Injectable()
export class RunbookResourceResolver implements ResourceResolver {
  constructor(private readonly runbooks: RunbooksService) {}

  async resolve(req: PolicyRequest): Promise<PolicyResource> {
    const raw: unknown = (req.params as Record<string, unknown> | undefined)?.id;
    const id = Array.isArray(raw) ? raw.join('/') : String(raw ?? '');
    const found = this.runbooks.list().find((r) => r.id === id);
    return { runbook: id, environment: found?.valid ? found.environment : '(unknown)' };
  }
}
