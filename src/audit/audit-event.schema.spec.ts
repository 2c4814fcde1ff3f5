import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { auditEventSchema, auditEventSchemaText } from './audit-event.schema';
import { sampleEvents } from './audit-examples';
import { AUDIT_EVENT_TYPES } from './audit.types';
import { AuditEventValidator } from './audit-validator';

const docsSchema = join(__dirname, '..', '..', 'docs', 'audit-event.schema.json');

/** A consumer that knows only the published file. */
function consumerValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(docsSchema, 'utf8')) as object);
}

describe('auditEventSchema', () => {
  it('is what docs/audit-event.schema.json holds (run scripts/audit-schema.ts after a change)', () => {
    expect(readFileSync(docsSchema, 'utf8')).toBe(auditEventSchemaText());
  });

  it('has a branch for every catalogue type', () => {
    const branches = (auditEventSchema().oneOf as Array<{ $ref: string }>).map((b) => b.$ref);
    expect(branches).toEqual(AUDIT_EVENT_TYPES.map((t) => `#/$defs/event.${t}`));
  });

  it('accepts a typed sample event of every catalogue type', () => {
    const validate = consumerValidator();
    const events = sampleEvents();
    expect(events.map((e) => e.type)).toEqual([...AUDIT_EVENT_TYPES]);
    for (const event of events) {
      expect({ type: event.type, valid: validate(event), errors: validate.errors ?? null }).toEqual(
        {
          type: event.type,
          valid: true,
          errors: null,
        },
      );
    }
  });

  it('refuses members the catalogue does not have, wrong shapes and missing members', () => {
    const validator = new AuditEventValidator();
    const [gateway, sessionStarted] = sampleEvents();
    expect(validator.problems({ ...gateway, extra: 1 })).toEqual([
      '/ must NOT have additional properties (extra)',
    ]);
    expect(validator.problems({ ...sessionStarted, session: 'not-a-uuid' })).toEqual([
      '/session must match format "uuid"',
    ]);
    const { runbook: _r, ...withoutRunbook } = sessionStarted as unknown as Record<string, unknown>;
    expect(validator.problems(withoutRunbook)).toEqual(["/ must have required property 'runbook'"]);
    expect(validator.problems({ ...gateway, trace_id: 'abc' })).toEqual([
      '/trace_id must match pattern "^[0-9a-f]{32}$"',
    ]);
  });
});
