import { describe, expect, it } from 'vitest';
import { auditEventSchema } from '../../audit/audit-event.schema';
import { toOpenApiComponents } from './json-schema';

describe(toOpenApiComponents.name, () => {
  it('turns $defs into prefixed components and rewrites their references', () => {
    const out = toOpenApiComponents(
      {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: 'urn:x',
        oneOf: [{ $ref: '#/$defs/a' }],
        $defs: { a: { type: 'object', properties: { kind: { const: 'a' } } } },
      },
      'X',
    );
    expect(out).toEqual({
      X: { oneOf: [{ $ref: '#/components/schemas/X.a' }] },
      'X.a': { type: 'object', properties: { kind: { enum: ['a'] } } },
    });
  });

  it('says nullable where JSON Schema allows null beside one type', () => {
    const out = toOpenApiComponents(
      { type: 'object', properties: { n: { oneOf: [{ type: 'integer' }, { type: 'null' }] } } },
      'Y',
    );
    expect(out.Y).toEqual({
      type: 'object',
      properties: { n: { type: 'integer', nullable: true } },
    });
  });

  it('leaves nothing of JSON Schema 2020-12 in the audit event components', () => {
    const text = JSON.stringify(toOpenApiComponents(auditEventSchema(), 'AuditEvent'));
    expect(text).not.toMatch(/"\$defs"|"const"|"\$schema"|"type":"null"|#\/\$defs/);
  });
});
