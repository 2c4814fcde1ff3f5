import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';

/** DTO validation at the edge: unknown fields refused, every problem listed. */
export function edgeValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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
