import { describe, expect, it } from 'vitest';
import { redactPath, redactQuery, traceableUrl, traceableUrlString } from './url-redaction';

describe('URLs in spans', () => {
  it("keeps a chat webhook's origin and shape but not its secret segment", () => {
    const url = traceableUrl(
      new URL('https://hooks.example.com/services/T0123ABCD/B0456EFGH/q8WzX2vR4nT6yK1mP3sL9dF0'),
    );
    expect(url.full).toBe('https://hooks.example.com/services/T0123ABCD/B0456EFGH/REDACTED');
    expect(url.path).toBe('/services/T0123ABCD/B0456EFGH/REDACTED');
  });

  it('drops user information and every query value, keeping the keys', () => {
    const url = traceableUrl(
      new URL('https://svc:hunter2@idp.example.com/auth/callback?code=abc123&state=xyz&flag'),
    );
    expect(url.full).toBe(
      'https://idp.example.com/auth/callback?code=REDACTED&state=REDACTED&flag',
    );
    expect(url.query).toBe('?code=REDACTED&state=REDACTED&flag');
    expect(url.full).not.toContain('hunter2');
  });

  it("keeps this API's identifiers: UUIDs, runbook ids, version hashes, short words", () => {
    const path = '/v1/sessions/5fdd1540-039d-48ab-9ef1-960c52f5ab68/cells/step-2/execute';
    expect(redactPath(path)).toBe(path);
    expect(redactPath('/v1/runbooks/shop%2Fcheckout-errors/versions/85d570be090b')).toBe(
      '/v1/runbooks/shop%2Fcheckout-errors/versions/85d570be090b',
    );
    expect(redactPath('/dev-oidc/jwks')).toBe('/dev-oidc/jwks');
  });

  it('redacts long tokens of letters and digits, not long words', () => {
    expect(redactPath('/hook/ghp_0123456789abcdefghijABCDEFGHIJ')).toBe('/hook/REDACTED');
    expect(redactPath('/a/averyveryverylongplainpathword')).toBe(
      '/a/averyveryverylongplainpathword',
    );
  });

  it('gives an empty query for none and drops what does not parse', () => {
    expect(redactQuery('')).toBe('');
    expect(redactQuery('?')).toBe('');
    expect(traceableUrl(new URL('http://127.0.0.1:8081/dev-oidc/jwks')).query).toBe('');
    expect(traceableUrlString('http://[bad').full).toBe('REDACTED');
  });
});
