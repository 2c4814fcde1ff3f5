import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailureKind } from '../../src/auth/auth.errors';
import { AuthService, type AuthFailure } from '../../src/auth/auth.service';
import {
  DEMO_PEOPLE,
  demoClientId,
  type DemoUsername,
} from '../../src/auth/dev-issuer/demo-people';
import { IssuerClient, type FetchFn, type IssuerClientOptions } from '../../src/auth/issuer.client';
import { ErrorCode, InfrastructureError, RungateError } from '../../src/common/errors';
import { startTestIssuer, type TestIssuer } from '../support/oidc';

/** An RSA key we control, published by the issuer as its signing key. */
interface TestKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: JsonWebKey;
}

function newKey(kid: string): TestKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
  };
}

/** Counts requests to the issuer's JWKS endpoint while passing everything to the real fetch. */
function countingFetch(): { fetch: FetchFn; jwksFetches: () => number } {
  let count = 0;
  return {
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.endsWith('/jwks')) count++;
      return fetch(input, init);
    },
    jwksFetches: () => count,
  };
}

const now = () => Math.floor(Date.now() / 1000);

async function refusal(promise: Promise<unknown>): Promise<RungateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RungateError))
    throw new Error(`expected a RungateError, got ${String(err)}`);
  return err;
}

describe(AuthService.name, () => {
  const issuerKey = newKey('issuer-key-1');
  let issuer: TestIssuer;

  const serviceFor = (overrides: Partial<IssuerClientOptions> = {}) =>
    new AuthService(
      new IssuerClient({
        issuer: issuer.issuer,
        audience: 'urn:rungate',
        allowHttp: true,
        ...overrides,
      }),
      { groupsClaim: 'groups' },
    );

  /** A token with chosen claims, signed like the issuer's own unless told otherwise. */
  const sign = (
    claims: Record<string, unknown>,
    { key = issuerKey, alg = 'RS256' }: { key?: TestKey; alg?: string } = {},
  ) =>
    new SignJWT({
      iss: issuer.issuer,
      aud: 'urn:rungate',
      sub: 'alice',
      groups: ['oncall'],
      iat: now(),
      exp: now() + 300,
      ...claims,
    })
      .setProtectedHeader({ alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);

  beforeAll(async () => {
    issuer = await startTestIssuer({ signingKeys: [issuerKey.jwk] });
  });
  afterAll(async () => {
    await issuer?.stop();
  });

  describe('authenticate', () => {
    const expectedGroups: Record<DemoUsername, string[]> = {
      alice: ['oncall'],
      bob: ['oncall', 'approvers'],
      dave: ['approvers'],
      carol: ['security'],
      mallory: [],
    };

    it.each(DEMO_PEOPLE.map((p) => p.username))(
      'resolves a token of demo client %s to that person with their groups',
      async (username) => {
        const principal = await serviceFor().authenticate(await issuer.authorizationFor(username));
        expect(principal).toMatchObject({
          sub: username,
          name: username,
          email: `${username}@example.test`,
          groups: expectedGroups[username],
          clientId: demoClientId(username),
        });
        expect(principal.tokenId).toEqual(expect.any(String));
      },
    );

    it('reads groups from a dotted claim path', async () => {
      const service = new AuthService(
        new IssuerClient({ issuer: issuer.issuer, audience: 'urn:rungate', allowHttp: true }),
        { groupsClaim: 'realm_access.roles' },
      );
      const token = await sign({ sub: 'erin', realm_access: { roles: ['approvers', 'oncall'] } });
      expect((await service.authenticate(`Bearer ${token}`)).groups).toEqual([
        'approvers',
        'oncall',
      ]);
    });

    it.each<[string, string | undefined, AuthFailureKind, RegExp]>([
      ['a missing header', undefined, AuthFailureKind.MissingToken, /^Bearer realm="rungate"$/],
      ['an empty header', '  ', AuthFailureKind.MissingToken, /^Bearer realm="rungate"$/],
      [
        'another scheme',
        'Basic ZGVtbzpkZW1v',
        AuthFailureKind.MalformedHeader,
        /error="invalid_request"/,
      ],
      [
        'a scheme without token',
        'Bearer',
        AuthFailureKind.MalformedHeader,
        /error="invalid_request"/,
      ],
      ['two tokens', 'Bearer a b', AuthFailureKind.MalformedHeader, /error="invalid_request"/],
      [
        'a header that is not base64url',
        'Bearer @@@',
        AuthFailureKind.MalformedHeader,
        /error="invalid_request"/,
      ],
      [
        'a JWT with a garbage header',
        'Bearer xx.yy.zz',
        AuthFailureKind.MalformedToken,
        /error="invalid_token"/,
      ],
    ])('refuses %s', async (_what, header, kind, challenge) => {
      const err = await refusal(serviceFor().authenticate(header));
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.extensions.reason).toBe(kind);
      expect(err.extensions.wwwAuthenticate).toMatch(challenge);
    });

    const badTokens: Array<[string, () => Promise<string>, AuthFailureKind, RegExp]> = [
      [
        'an expired token',
        () => sign({ iat: now() - 7200, exp: now() - 3600 }),
        AuthFailureKind.Expired,
        /expired/,
      ],
      [
        'a token not yet valid (nbf in the future)',
        () => sign({ nbf: now() + 3600 }),
        AuthFailureKind.NotYetValid,
        /not yet valid/,
      ],
      [
        'a token for another audience',
        () => sign({ aud: 'urn:other' }),
        AuthFailureKind.WrongAudience,
        /urn:rungate/,
      ],
      [
        'a token from another issuer',
        () => sign({ iss: 'https://issuer.example' }),
        AuthFailureKind.WrongIssuer,
        /issuer/,
      ],
      [
        'a token without exp',
        () => sign({ exp: undefined }),
        AuthFailureKind.MissingClaim,
        /"exp"/,
      ],
      [
        'a token without sub',
        () => sign({ sub: undefined }),
        AuthFailureKind.MissingClaim,
        /"sub"/,
      ],
      [
        'a token whose payload was tampered with',
        async () => {
          const [header, payload, signature] = (await issuer.tokenFor('mallory')).split('.');
          const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
            string,
            unknown
          >;
          const forged = Buffer.from(JSON.stringify({ ...claims, groups: ['approvers'] })).toString(
            'base64url',
          );
          return `${header}.${forged}.${signature}`;
        },
        AuthFailureKind.BadSignature,
        /signature/,
      ],
      [
        'an unsigned token (alg none)',
        async () => {
          const [, payload] = (await sign({})).split('.');
          return `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
        },
        AuthFailureKind.AlgorithmRefused,
        /alg "none"/,
      ],
      [
        'an HMAC-signed token (HS256)',
        () =>
          new SignJWT({ iss: issuer.issuer, aud: 'urn:rungate', sub: 'alice', exp: now() + 300 })
            .setProtectedHeader({ alg: 'HS256', kid: issuerKey.kid })
            .sign(new TextEncoder().encode('a-shared-secret-anyone-could-know-32b')),
        AuthFailureKind.AlgorithmRefused,
        /HMAC/,
      ],
      [
        'a token signed by a key the issuer does not publish',
        () => sign({}, { key: newKey('rogue-key') }),
        AuthFailureKind.UnknownKey,
        /key/,
      ],
      [
        'a token signed by another key under the issuer key id',
        () => sign({}, { key: { ...newKey(issuerKey.kid) } }),
        AuthFailureKind.BadSignature,
        /signature/,
      ],
    ];

    it.each(badTokens)('refuses %s', async (_what, makeToken, kind, message) => {
      const err = await refusal(serviceFor().authenticate(`Bearer ${await makeToken()}`));
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.extensions.reason).toBe(kind);
      expect(err.message).toMatch(message);
      expect(err.extensions.wwwAuthenticate).toMatch(
        /^Bearer realm="rungate", error="invalid_token", error_description="/,
      );
    });

    it('tells failure listeners the reason, ip and user agent, never the token', async () => {
      const service = serviceFor();
      const failures: AuthFailure[] = [];
      const unsubscribe = service.onAuthFailure((f) => failures.push(f));
      const token = await sign({ exp: now() - 3600, iat: now() - 7200 });
      await refusal(
        service.authenticate(`Bearer ${token}`, { ip: '203.0.113.7', userAgent: 'curl/8' }),
      );
      unsubscribe();
      await refusal(service.authenticate(undefined));
      expect(failures).toEqual([
        {
          kind: AuthFailureKind.Expired,
          reason: 'token has expired',
          ip: '203.0.113.7',
          userAgent: 'curl/8',
          time: expect.any(Date),
        },
      ]);
      expect(JSON.stringify(failures)).not.toContain(token);
    });

    it('answers unavailable, not unauthenticated, when the issuer cannot be reached', async () => {
      const closed = await startTestIssuer();
      await closed.stop();
      const service = new AuthService(
        new IssuerClient({
          issuer: closed.issuer,
          audience: 'urn:rungate',
          allowHttp: true,
          timeoutMs: 2000,
        }),
        { groupsClaim: 'groups' },
      );
      const err = await refusal(service.authenticate(`Bearer ${await sign({})}`));
      expect(err).toBeInstanceOf(InfrastructureError);
      expect(err.code).toBe(ErrorCode.Unavailable);
    });

    it('refuses an http issuer unless allowed', async () => {
      const err = await refusal(
        serviceFor({ allowHttp: false }).authenticate(`Bearer ${await sign({})}`),
      );
      expect(err.code).toBe(ErrorCode.Unavailable);
      expect(err.message).toMatch(/https/);
    });
  });

  describe('JWKS cache', () => {
    it('fetches the JWKS once, refetches once on an unknown kid, and accepts a rotated key', async () => {
      const rotating = await startTestIssuer({ signingKeys: [newKey('first').jwk] });
      try {
        const counter = countingFetch();
        const service = new AuthService(
          new IssuerClient({
            issuer: rotating.issuer,
            audience: 'urn:rungate',
            allowHttp: true,
            jwksCooldownMs: 0,
            fetch: counter.fetch,
          }),
          { groupsClaim: 'groups' },
        );
        const before = await rotating.tokenFor('alice');
        await service.authenticate(`Bearer ${before}`);
        await service.authenticate(`Bearer ${await rotating.tokenFor('bob')}`);
        expect(counter.jwksFetches()).toBe(1);

        const kid = await rotating.rotateSigningKey(newKey('second').jwk);
        expect(kid).toBe('second');
        const after = await rotating.tokenFor('dave');
        expect(JSON.parse(Buffer.from(after.split('.')[0], 'base64url').toString())).toMatchObject({
          kid: 'second',
        });
        expect(await service.authenticate(`Bearer ${after}`)).toMatchObject({ sub: 'dave' });
        expect(counter.jwksFetches()).toBe(2);

        // The old key is still published, and already cached.
        expect(await service.authenticate(`Bearer ${before}`)).toMatchObject({ sub: 'alice' });
        expect(counter.jwksFetches()).toBe(2);
      } finally {
        await rotating.stop();
      }
    });

    it('does not refetch the JWKS for unknown kids within the cooldown', async () => {
      const counter = countingFetch();
      const service = serviceFor({ fetch: counter.fetch });
      await service.authenticate(await issuer.authorizationFor('carol'));
      expect(counter.jwksFetches()).toBe(1);
      for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) {
        const err = await refusal(
          service.authenticate(`Bearer ${await sign({}, { key: newKey(kid) })}`),
        );
        expect(err.extensions.reason).toBe(AuthFailureKind.UnknownKey);
      }
      expect(counter.jwksFetches()).toBe(1);
    });
  });

  describe('introspection', () => {
    let opaqueIssuer: TestIssuer;
    beforeAll(async () => {
      opaqueIssuer = await startTestIssuer({ accessTokenFormat: 'opaque' });
    });
    afterAll(async () => {
      await opaqueIssuer?.stop();
    });

    const introspecting = () =>
      new AuthService(
        new IssuerClient({
          issuer: opaqueIssuer.issuer,
          audience: 'urn:rungate',
          allowHttp: true,
          introspection: opaqueIssuer.introspectionClient,
        }),
        { groupsClaim: 'groups' },
      );

    it('resolves an opaque token through the issuer', async () => {
      const token = await opaqueIssuer.tokenFor('carol');
      expect(token.split('.')).toHaveLength(1);
      expect(await introspecting().authenticate(`Bearer ${token}`)).toMatchObject({
        sub: 'carol',
        name: 'carol',
        groups: ['security'],
        clientId: 'demo-carol',
      });
    });

    it('refuses an opaque token the issuer does not know', async () => {
      const err = await refusal(introspecting().authenticate('Bearer not-a-token-the-issuer-made'));
      expect(err.extensions.reason).toBe(AuthFailureKind.InactiveToken);
    });

    it('refuses opaque tokens when introspection is not configured', async () => {
      const service = new AuthService(
        new IssuerClient({ issuer: opaqueIssuer.issuer, audience: 'urn:rungate', allowHttp: true }),
        { groupsClaim: 'groups' },
      );
      const err = await refusal(service.authenticate(await opaqueIssuer.authorizationFor('alice')));
      expect(err.extensions.reason).toBe(AuthFailureKind.OpaqueUnsupported);
    });

    it('refuses an opaque token for another audience', async () => {
      const service = new AuthService(
        new IssuerClient({
          issuer: opaqueIssuer.issuer,
          audience: 'urn:elsewhere',
          allowHttp: true,
          introspection: opaqueIssuer.introspectionClient,
        }),
        { groupsClaim: 'groups' },
      );
      const err = await refusal(service.authenticate(await opaqueIssuer.authorizationFor('alice')));
      expect(err.extensions.reason).toBe(AuthFailureKind.WrongAudience);
    });
  });
});
