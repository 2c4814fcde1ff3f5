import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';

/**
 * How deep a request body may nest. Runbook parameters are the deepest thing the API
 * takes, and a handful of levels covers them; a body nested thousands deep costs every
 * recursive walk after it (validation, canonical JSON, the audit event) for nothing.
 */
export const MAX_BODY_DEPTH = 32;

/** Refuses a body nested deeper than {@link MAX_BODY_DEPTH}, before any walk over it. */
export function assertBodyDepth(value: unknown, max = MAX_BODY_DEPTH): void {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (node === null || typeof node !== 'object') continue;
    if (depth >= max) {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `the request body is nested deeper than ${max} levels`,
      );
    }
    for (const child of Object.values(node)) stack.push({ node: child, depth: depth + 1 });
  }
}

class EdgeValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') assertBodyDepth(value);
    return super.transform(value, metadata);
  }
}

/** DTO validation at the edge: bodies bounded in depth, unknown fields refused, every problem listed. */
export function edgeValidationPipe(): ValidationPipe {
  return new EdgeValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors: ValidationError[]) => {
      const list = flatten(errors);
      return new RungateError(ErrorCode.InvalidRequest, list.map((e) => e.message).join('; '), {
        errors: list,
      });
    },
  });
}

function flatten(
  errors: ValidationError[],
  prefix = '',
): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push({
        field,
        message: message.replace(/^property (\S+) should not exist$/, '$1 is not a known field'),
      });
    }
    if (e.children?.length) out.push(...flatten(e.children, field));
  }
  return out;
}
