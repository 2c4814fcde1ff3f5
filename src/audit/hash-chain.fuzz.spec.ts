import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import { GENESIS_HASH } from './audit.types';
import { canonicalJson } from './canonical-json';
import { chainHash, ChainVerifier, type StoredChainRow } from './hash-chain';

/** What varies between generated events: their type and free-form details. */
const eventContent = fc.record({
  type: fc.string({ minLength: 1, maxLength: 20 }),
  details: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), {
    maxKeys: 4,
  }),
});

/** Seals generated events into one chain and returns the stored rows. */
function chainOf(contents: ReadonlyArray<{ type: string; details: unknown }>): StoredChainRow[] {
  const rows: StoredChainRow[] = [];
  let prev = GENESIS_HASH;
  contents.forEach((content, i) => {
    // Generated types are not in the audit catalogue, so this seals as sealEvent does
    // (hash over the event without it, body over the event with it) without its types.
    const unsealed = {
      id: `evt-${i + 1}`,
      seq: i + 1,
      type: content.type,
      time: '2026-01-01T00:00:00.000Z',
      prev_hash: prev,
      details: content.details,
    };
    const event = { ...unsealed, hash: chainHash(prev, unsealed) };
    rows.push({
      id: event.id,
      seq: event.seq,
      type: event.type,
      prev_hash: prev,
      hash: event.hash,
      body: canonicalJson(event),
    });
    prev = event.hash;
  });
  return rows;
}

function verify(rows: readonly StoredChainRow[], head = rows[rows.length - 1]) {
  const verifier = new ChainVerifier();
  rows.forEach((r) => verifier.add(r));
  return verifier.finish({ seq: head.seq, hash: head.hash });
}

const chain = fc.array(eventContent, { minLength: 1, maxLength: 8 });

/** Changes a stored body: one character replaced, or one detail given a new value. */
const bodyChange = fc.oneof(
  fc
    .record({ position: fc.nat(), replacement: fc.string({ minLength: 1, maxLength: 1 }) })
    .map(({ position, replacement }) => (body: string) => {
      const at = position % body.length;
      const changed = body.slice(0, at) + replacement + body.slice(at + 1);
      // A replacement equal to the original is no change; use another character.
      return changed !== body
        ? changed
        : body.slice(0, at) + (replacement === 'x' ? 'y' : 'x') + body.slice(at + 1);
    }),
  fc.jsonValue({ maxDepth: 2 }).map((value) => (body: string) => {
    const parsed = JSON.parse(body) as { details: Record<string, unknown> };
    const before = canonicalJson(parsed.details.tampered ?? null);
    parsed.details.tampered = canonicalJson(value) === before ? [value] : value;
    return canonicalJson(parsed);
  }),
);

describe(ChainVerifier.name, () => {
  it(
    'verifies a chain sealed from generated events',
    () => {
      checkProperty(
        'hash-chain: sealed chain verifies',
        fc.property(chain, (contents) => {
          const rows = chainOf(contents);
          expect(verify(rows)).toEqual({ ok: true, events: rows.length, prunedThrough: undefined });
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'breaks at the event whose stored body was changed',
    () => {
      checkProperty(
        'hash-chain: changed event breaks there',
        fc.property(chain, fc.nat(), bodyChange, (contents, pick, change) => {
          const rows = chainOf(contents);
          const k = pick % rows.length;
          rows[k] = { ...rows[k], body: change(rows[k].body) };
          const result = verify(rows);
          expect(result.ok).toBe(false);
          if (result.ok) return;
          expect(result.brokenAt).toMatchObject({ id: rows[k].id, seq: k + 1 });
          expect(result.events).toBe(k);
        }),
      );
    },
    fuzzTimeout(),
  );
});
