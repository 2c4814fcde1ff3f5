import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sampleEvents } from './audit-examples';
import { GATEWAY_CHAIN, GENESIS_HASH, type AuditEvent } from './audit.types';
import { canonicalJson } from './canonical-json';
import { chainHash, ChainVerifier, sealEvent, type StoredChainRow } from './hash-chain';

/** The sample events of one session chain, as stored rows. */
function storedChain(): StoredChainRow[] {
  const session = sampleEvents().filter((e) => 'session' in e);
  return session.map(rowOf);
}

function rowOf(e: AuditEvent): StoredChainRow {
  return {
    id: e.id,
    seq: e.seq,
    type: e.type,
    prev_hash: e.prev_hash,
    hash: e.hash,
    body: canonicalJson(e),
  };
}

function verify(rows: readonly StoredChainRow[], head = rows[rows.length - 1]) {
  const v = new ChainVerifier();
  rows.forEach((r) => v.add(r));
  return v.finish(head === undefined ? undefined : { seq: head.seq, hash: head.hash });
}

describe('chainHash', () => {
  it('is sha256 over the previous hash followed by the canonical JSON without hash', () => {
    const event = { b: 2, a: 1, prev_hash: GENESIS_HASH };
    const expected = createHash('sha256')
      .update(`${GENESIS_HASH}{"a":1,"b":2,"prev_hash":"${GENESIS_HASH}"}`)
      .digest('hex');
    expect(chainHash(GENESIS_HASH, event)).toBe(expected);
  });
});

describe('sealEvent', () => {
  it('adds the hash and renders the body canonically, hash included', () => {
    const [gateway] = sampleEvents().filter((e) => !('session' in e));
    const { hash: _hash, ...unsealed } = gateway;
    const { event, body } = sealEvent(unsealed);
    expect(event.hash).toBe(gateway.hash);
    expect(JSON.parse(body)).toEqual(gateway);
    expect(body).toBe(canonicalJson(gateway));
    expect(gateway.seq).toBe(1);
    expect(GATEWAY_CHAIN).toBe('gateway');
  });
});

describe(ChainVerifier.name, () => {
  describe('finish', () => {
    it('accepts an intact chain and counts its events', () => {
      const rows = storedChain();
      expect(rows.length).toBeGreaterThan(10);
      expect(verify(rows)).toEqual({ ok: true, events: rows.length, prunedThrough: undefined });
    });

    it('reports exactly the event whose content was altered', () => {
      const rows = storedChain();
      const victim = rows[5];
      rows[5] = {
        ...victim,
        body: victim.body.replace('"time":"2025-07-01T10', '"time":"2025-07-01T09'),
      };
      expect(verify(rows)).toMatchObject({
        ok: false,
        events: 5,
        brokenAt: { id: victim.id, seq: victim.seq, reason: expect.stringMatching(/altered/) },
      });
    });

    it('reports an event whose hash was recomputed after editing at the next link', () => {
      const rows = storedChain();
      const edited = JSON.parse(rows[3].body) as Record<string, unknown>;
      edited.severity = 'critical';
      const { hash: _h, ...rest } = edited;
      const hash = chainHash(rows[3].prev_hash, rest);
      rows[3] = { ...rows[3], hash, body: canonicalJson({ ...rest, hash }) };
      expect(verify(rows, storedChain().at(-1))).toMatchObject({
        ok: false,
        brokenAt: { id: rows[4].id, seq: rows[4].seq, reason: expect.stringMatching(/prev_hash/) },
      });
    });

    it('reports a deleted event, a deleted tail and a body that disagrees with its row', () => {
      const rows = storedChain();
      expect(verify([...rows.slice(0, 2), ...rows.slice(3)])).toMatchObject({
        ok: false,
        brokenAt: { id: rows[3].id, seq: 4, reason: 'events 3 to 3 are missing' },
      });
      expect(verify(rows.slice(0, -2), rows.at(-1))).toMatchObject({
        ok: false,
        brokenAt: { id: null, seq: rows.length - 1 },
      });
      const swapped = rows.map((r, i) => (i === 2 ? { ...r, type: 'session.ended' } : r));
      expect(verify(swapped)).toMatchObject({
        ok: false,
        brokenAt: { seq: 3, reason: expect.stringMatching(/does not match the row/) },
      });
    });

    it('verifies a pruned chain from the recorded start, and says so', () => {
      const rows = storedChain();
      const start = { seq: rows[3].seq, hash: rows[3].hash };
      const v = new ChainVerifier(start);
      rows.slice(4).forEach((r) => v.add(r));
      const last = rows.at(-1);
      expect(v.finish(last && { seq: last.seq, hash: last.hash })).toEqual({
        ok: true,
        events: rows.length - 4,
        prunedThrough: start,
      });
      const wrongStart = new ChainVerifier({ seq: rows[3].seq, hash: GENESIS_HASH });
      rows.slice(4).forEach((r) => wrongStart.add(r));
      expect(wrongStart.finish(undefined)).toMatchObject({
        ok: false,
        brokenAt: { seq: rows[4].seq },
      });
    });
  });
});
