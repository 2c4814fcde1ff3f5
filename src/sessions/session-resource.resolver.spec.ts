import { describe, expect, it } from 'vitest';
import type { PolicyRequest } from '../policy/authorize.decorator';
import type { RunbooksService } from '../runbooks';
import type { SessionsService } from './sessions.service';
import { NOT_A_RUNBOOK_ID, StartSessionResourceResolver } from './session-resource.resolver';

describe(StartSessionResourceResolver.name, () => {
  const runbooks = {
    list: () => [{ id: 'shop/checkout-errors', valid: true }],
  } as unknown as RunbooksService;
  const sessions = { environmentOf: () => 'prod' } as unknown as SessionsService;
  const resolver = new StartSessionResourceResolver(runbooks, sessions);
  const start = (body: unknown) => resolver.resolve({ body } as unknown as PolicyRequest);

  it('decides on the requested runbook in its environment', async () => {
    await expect(start({ runbook: 'shop/checkout-errors' })).resolves.toEqual({
      runbook: 'shop/checkout-errors',
      environment: 'prod',
    });
    await expect(start({ runbook: 'shop/unknown' })).resolves.toEqual({
      runbook: 'shop/unknown',
      environment: '(unknown)',
    });
  });

  it('names what is no catalog id as such, so the decision can still be recorded', async () => {
    for (const body of [
      {},
      undefined,
      { runbook: '' },
      { runbook: 42 },
      { runbook: '../x' },
      { runbook: 'a'.repeat(201) },
    ]) {
      await expect(start(body)).resolves.toEqual({
        runbook: NOT_A_RUNBOOK_ID,
        environment: '(unknown)',
      });
    }
  });
});
