import { describe, expect, it } from 'vitest';
import { RungateError } from '../common/errors';
import { StartSessionDto } from '../sessions/dto/start-session.dto';
import { edgeValidationPipe, MAX_BODY_DEPTH } from './validation.pipe';

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) value = { next: value };
  return value;
}

describe('edgeValidationPipe', () => {
  const pipe = edgeValidationPipe();
  const body = { type: 'body' as const, metatype: StartSessionDto };

  it('takes parameters nested as deep as the limit allows', async () => {
    // The parameters object sits one level below the body.
    const parameters = nested(MAX_BODY_DEPTH - 1);
    await expect(
      pipe.transform({ runbook: 'shop/orders', reason: 'a reason', parameters }, body),
    ).resolves.toBeInstanceOf(StartSessionDto);
  });

  it('refuses a body nested deeper than the limit, before validating it', async () => {
    const parameters = nested(10_000);
    const err = await pipe
      .transform({ runbook: 'shop/orders', reason: 'a reason', parameters }, body)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RungateError);
    expect((err as RungateError).message).toBe(
      `the request body is nested deeper than ${MAX_BODY_DEPTH} levels`,
    );
  });
});
