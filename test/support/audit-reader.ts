import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { IHeaders } from 'kafkajs';
import { ROOT } from './gateway';
import { createTopic, testKafka } from './kafka';

export interface AuditMessage {
  key: string | null;
  headers: Record<string, string>;
  // Each assertion says which fields it expects.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  event: any;
}

/**
 * Consumes a topic from the beginning until `done(messages)` holds, failing with
 * what it saw at the deadline: the test waits on the events it expects.
 *
 * Test files run in parallel against one broker: give each gateway its own topic
 * (`uniqueTopic`), and pick a test's events by their key (the session id) or their ids,
 * never by type or position, so no test reads another's events.
 */
export async function consumeUntil(
  brokers: string,
  topic: string,
  done: (messages: AuditMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<AuditMessage[]> {
  const consumer = testKafka(brokers, 'rungate-audit-reader').consumer({
    groupId: `rungate-audit-reader-${randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  const seen: AuditMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    // The gateway may not have written to the topic yet: subscribing to a missing topic fails.
    await createTopic(brokers, topic);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `not done after ${timeoutMs} ms; saw ${seen.length}: ${seen.map((m) => m.event?.type).join(', ')}`,
            ),
          ),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push({
              key: message.key?.toString() ?? null,
              headers: headersOf(message.headers),
              event: JSON.parse(message.value?.toString() ?? 'null'),
            });
            if (done(seen)) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return seen;
}

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
}

/** A validator built from the published JSON Schema alone, as a SIEM consumer would. */
export function schemaValidator(): (event: unknown) => string | null {
  const schema: unknown = JSON.parse(
    readFileSync(join(ROOT, 'docs', 'audit-event.schema.json'), 'utf8'),
  );
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema as object);
  return (event) => (validate(event) ? null : ajv.errorsText(validate.errors));
}

/** A fresh W3C traceparent and its trace id. */
export function newTraceparent(): { traceparent: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, traceId };
}

export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
