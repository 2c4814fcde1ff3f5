import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { auditEventSchema } from './audit-event.schema';
import { AUDIT_EVENT_TYPES } from './audit.types';

/** An event does not match `rungate.audit/v1`: a programming error in the code that recorded it. */
export class AuditEventInvalidError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`audit event does not match rungate.audit/v1: ${problems.join('; ')}`);
    this.name = 'AuditEventInvalidError';
  }
}

interface Compiled {
  /** One validator per event type: the schema's branch for that type. */
  readonly byType: ReadonlyMap<string, ValidateFunction>;
}

let compiled: Compiled | undefined;

/**
 * Checks events against the published JSON Schema before they are written, so
 * nothing a consumer would reject ever enters the outbox (and a caller that passes,
 * say, a whole domain object where the catalogue wants a few fields fails in its tests).
 */
export class AuditEventValidator {
  private readonly schema: Compiled;

  constructor() {
    compiled ??= compileSchema();
    this.schema = compiled;
  }

  isValid(event: unknown): boolean {
    return this.problems(event).length === 0;
  }

  /** The problems with `event`, empty when it is valid. */
  problems(event: unknown): string[] {
    // The schema is a oneOf over the types, each branch fixing `type`: an event can
    // match only its own type's branch, so that branch alone decides (and says what
    // is wrong), without trying the others.
    const type = (event as { type?: unknown } | null)?.type;
    const own = typeof type === 'string' ? this.schema.byType.get(type) : undefined;
    if (own === undefined)
      return [`/type must be one of ${[...this.schema.byType.keys()].join(', ')}`];
    if (own(event) === true) return [];
    return describeErrors(own.errors ?? []);
  }

  assertValid(event: unknown): void {
    const problems = this.problems(event);
    if (problems.length > 0) throw new AuditEventInvalidError(problems);
  }
}

function compileSchema(): Compiled {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  const schema = auditEventSchema();
  ajv.addSchema(schema);
  const id = String(schema.$id);
  const byType = new Map<string, ValidateFunction>();
  for (const type of AUDIT_EVENT_TYPES) {
    const validate = ajv.getSchema(`${id}#/$defs/event.${type}`);
    if (validate === undefined) throw new Error(`the audit schema has no branch for ${type}`);
    byType.set(type, validate);
  }
  return { byType };
}

function describeErrors(errors: readonly ErrorObject[]): string[] {
  return errors.map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})`
        : '';
    return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
  });
}
