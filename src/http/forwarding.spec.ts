import { describe, expect, it } from 'vitest';
import { ReplicaKey } from '../db/replica-key';
import {
  FORWARDED_HEADER,
  forwardedHeaders,
  markProxied,
  saysForwarded,
  verifyForwarded,
  wasProxied,
} from './forwarding';

const key = ReplicaKey.of('replicas-share-this');
const NOW = 1_800_000_000_000;

function forwarded(
  overrides: { method?: string; url?: string; authorization?: string } = {},
  signedWith = key,
  at = NOW,
) {
  const req = {
    method: 'POST',
    url: '/v1/sessions/0195f3f0-7c1a-7d3e-9a51-3c2f1b0e4a77/interrupt',
    authorization: 'Bearer token-of-alice',
  };
  const headers = forwardedHeaders(signedWith, req, { by: 'instance-b', ip: '10.1.2.3' }, at);
  const all: Record<string, string> = {
    ...headers,
    authorization: overrides.authorization ?? req.authorization,
  };
  return {
    method: overrides.method ?? req.method,
    originalUrl: overrides.url ?? req.url,
    headers: all,
  };
}

describe('forwarded requests', () => {
  it('names the forwarding replica and the client when the MAC verifies', () => {
    expect(verifyForwarded(key, forwarded(), NOW + 1000)).toEqual({
      by: 'instance-b',
      ip: '10.1.2.3',
    });
  });

  it('refuses another key, method, URL or Authorization header', () => {
    expect(verifyForwarded(key, forwarded({}, ReplicaKey.of('guessed')), NOW)).toBeUndefined();
    expect(verifyForwarded(key, forwarded({ method: 'DELETE' }), NOW)).toBeUndefined();
    expect(
      verifyForwarded(key, forwarded({ url: '/v1/sessions/other/interrupt' }), NOW),
    ).toBeUndefined();
    expect(
      verifyForwarded(key, forwarded({ authorization: 'Bearer token-of-mallory' }), NOW),
    ).toBeUndefined();
  });

  it('refuses a stale header and one without a MAC', () => {
    expect(verifyForwarded(key, forwarded(), NOW + 61_000)).toBeUndefined();
    const req = forwarded();
    const headers = { [FORWARDED_HEADER]: req.headers[FORWARDED_HEADER] };
    expect(verifyForwarded(key, { ...req, headers }, NOW)).toBeUndefined();
  });

  it('is never forwarded again, signed or not', () => {
    expect(saysForwarded({ [FORWARDED_HEADER]: 'anything' })).toBe(true);
    expect(saysForwarded({})).toBe(false);
  });

  it('remembers which requests another replica answered', () => {
    const req = {};
    expect(wasProxied(req)).toBe(false);
    markProxied(req);
    expect(wasProxied(req)).toBe(true);
  });
});
