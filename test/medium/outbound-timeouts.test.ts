import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { SignJWT, errors as jose } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthGuard } from '../../src/auth/auth.guard';
import { AuthModule } from '../../src/auth/auth.module';
import { CurrentPrincipal } from '../../src/auth/current-principal.decorator';
import { IssuerClient } from '../../src/auth/issuer.client';
import type { Principal } from '../../src/auth/principal';
import { KafkaAuditSink } from '../../src/audit/relay/kafka-sink';
import {
  ErrorCode,
  InfrastructureError,
  RungateError,
  httpStatusOf,
} from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { ProblemDetailsFilter } from '../../src/http/problem-details.filter';
import { PostgresRolesClient } from '../../src/targets/postgres-roles.client';
import { PostgresTargetDriver } from '../../src/targets/postgres-target';
import { OidcWebClient } from '../../src/web/oidc-web.client';
import {
  hangingTcpPeer,
  httpPeer,
  json,
  rejection,
  settlesWithin,
  type HangingTcpPeer,
  type HttpPeer,
} from '../support/hanging-peer';
import { listen } from '../support/net';

/**
 * Every outbound call has a bound: a peer that accepts the connection and never answers
 * (the hung issuer, broker, target or receiver) costs a caller the configured timeout and
 * then a clear, retriable failure, never a request that waits forever. The timeouts here
 * are short; the deadlines only turn a hang into a failed assertion with a reason.
 */
const TIMEOUT_MS = 300;
const DEADLINE_MS = 15_000;

/** An issuer's discovery document whose endpoints all point back at `base`. */
function discovery(base: string) {
  return {
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    introspection_endpoint: `${base}/introspect`,
    jwks_uri: `${base}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };
}

/** A well-formed RS256 token naming a key id, so verification must fetch the JWKS. */
async function tokenFor(issuer: string): Promise<string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return new SignJWT({ groups: ['oncall'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience('urn:rungate')
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
}

function expectRetriableInfrastructure(err: unknown, message: string): InfrastructureError {
  expect(err).toBeInstanceOf(InfrastructureError);
  const infra = err as InfrastructureError;
  expect(infra.retriable).toBe(true);
  expect(infra.message).toBe(message);
  expect(httpStatusOf(infra.code)).toBe(503);
  return infra;
}

describe('outbound call timeouts', () => {
  const peers: Array<HangingTcpPeer | HttpPeer> = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  async function hangingTcp(): Promise<HangingTcpPeer> {
    const p = await hangingTcpPeer();
    peers.push(p);
    return p;
  }
  async function http(routes: Parameters<typeof httpPeer>[0]): Promise<HttpPeer> {
    const p = await httpPeer(routes);
    peers.push(p);
    return p;
  }

  describe(IssuerClient.name, () => {
    it('fails discovery at an issuer that accepts and never answers', async () => {
      const peer = await hangingTcp();
      const issuer = `http://127.0.0.1:${peer.port}`;
      const client = new IssuerClient({
        issuer,
        audience: 'urn:rungate',
        allowHttp: true,
        timeoutMs: TIMEOUT_MS,
      });
      const result = await settlesWithin(
        client.verifyJwt(await tokenFor(issuer)),
        DEADLINE_MS,
        'verifying a token against a hung issuer',
      );
      expectRetriableInfrastructure(rejection(result), 'OIDC discovery at the issuer failed');
      expect(peer.connections).toBeGreaterThanOrEqual(1);
    });

    it('fails verification when the JWKS endpoint never answers, and tries again later', async () => {
      const peer = await http({
        '/.well-known/openid-configuration': (_req, res, base) =>
          json(discovery(base))(_req, res, base),
        '/jwks': 'hang',
      });
      const client = new IssuerClient({
        issuer: peer.url,
        audience: 'urn:rungate',
        allowHttp: true,
        timeoutMs: TIMEOUT_MS,
        jwksCooldownMs: 0,
      });
      const token = await tokenFor(peer.url);
      const first = await settlesWithin(client.verifyJwt(token), DEADLINE_MS, 'a hung JWKS');
      const err = expectRetriableInfrastructure(
        rejection(first),
        'fetching the issuer keys (JWKS) failed',
      );
      expect(err.cause).toBeInstanceOf(jose.JWKSTimeout);
      // The failure is not remembered: the next token asks the issuer again (and is bounded again).
      const second = await settlesWithin(client.verifyJwt(token), DEADLINE_MS, 'a hung JWKS');
      expectRetriableInfrastructure(rejection(second), 'fetching the issuer keys (JWKS) failed');
      expect(peer.hits.get('/jwks')).toBe(2);
    });

    it('fails introspection when the introspection endpoint never answers', async () => {
      const peer = await http({
        '/.well-known/openid-configuration': (_req, res, base) =>
          json(discovery(base))(_req, res, base),
        '/introspect': 'hang',
      });
      const client = new IssuerClient({
        issuer: peer.url,
        audience: 'urn:rungate',
        allowHttp: true,
        timeoutMs: TIMEOUT_MS,
        introspection: { clientId: 'rungate', clientSecret: 'secret' },
      });
      const result = await settlesWithin(
        client.introspect('opaque-token-value'),
        DEADLINE_MS,
        'introspection at a hung endpoint',
      );
      expectRetriableInfrastructure(rejection(result), 'token introspection at the issuer failed');
      await peer.hung('/introspect');
    });
  });

  describe('the API in front of a hung issuer', () => {
    @Controller('probe')
    class ProbeController {
      @Get('me')
      me(@CurrentPrincipal() principal: Principal): Principal {
        return principal;
      }
    }

    let app: INestApplication;
    let base: string;
    let peer: HangingTcpPeer;

    beforeAll(async () => {
      peer = await hangingTcpPeer();
      // OIDC_HTTP_TIMEOUT reaches the issuer client through the configuration.
      const config = loadConfig({
        NODE_ENV: 'test',
        OIDC_ISSUER: `http://127.0.0.1:${peer.port}`,
        OIDC_HTTP_TIMEOUT: String(TIMEOUT_MS / 1000),
      });
      expect(config.auth.httpTimeoutMs).toBe(TIMEOUT_MS);
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forRoot(config), AuthModule],
        controllers: [ProbeController],
        providers: [
          { provide: APP_GUARD, useExisting: AuthGuard },
          { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.listen(0, '127.0.0.1');
      base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await app?.close();
      await peer?.close();
    });

    it('answers 503 unavailable as a problem document, not a request that never ends', async () => {
      const token = await tokenFor(`http://127.0.0.1:${peer.port}`);
      const result = await settlesWithin(
        fetch(`${base}/probe/me`, { headers: { authorization: `Bearer ${token}` } }),
        DEADLINE_MS,
        'a request authenticated against a hung issuer',
      );
      if (result.status === 'rejected') throw result.reason;
      const res = result.value;
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ code: ErrorCode.Unavailable, status: 503 });
      expect(peer.connections).toBeGreaterThanOrEqual(1);
    });
  });

  describe(OidcWebClient.name, () => {
    it('fails a sign-in start when discovery never answers', async () => {
      const peer = await hangingTcp();
      const client = new OidcWebClient({
        issuer: `http://127.0.0.1:${peer.port}`,
        clientId: 'rungate-web',
        scopes: 'openid',
        allowHttp: true,
        timeoutMs: TIMEOUT_MS,
      });
      const result = await settlesWithin(
        client.authorizationUrl('http://127.0.0.1:1/auth/callback', undefined),
        DEADLINE_MS,
        'a sign-in against a hung issuer',
      );
      expectRetriableInfrastructure(rejection(result), 'OIDC discovery at the issuer failed');
    });

    it('fails a refresh when the token endpoint never answers', async () => {
      const peer = await http({
        '/.well-known/openid-configuration': (_req, res, base) =>
          json(discovery(base))(_req, res, base),
        '/token': 'hang',
      });
      const client = new OidcWebClient({
        issuer: peer.url,
        clientId: 'rungate-web',
        scopes: 'openid',
        allowHttp: true,
        timeoutMs: TIMEOUT_MS,
      });
      const result = await settlesWithin(
        client.refresh('a-refresh-token'),
        DEADLINE_MS,
        'a refresh at a hung token endpoint',
      );
      expectRetriableInfrastructure(
        rejection(result),
        'the tokens could not be refreshed: the issuer did not answer in time',
      );
      await peer.hung('/token');
    });
  });

  describe('postgres targets', () => {
    it('answers 503 when the target accepts connections and never answers', async () => {
      const peer = await hangingTcp();
      const driver = new PostgresTargetDriver(
        {
          name: 'shop-db',
          environment: 'prod',
          kind: 'postgres',
          adminUrl: { env: 'SHOP_ADMIN_URL' },
          readRole: 'shop_read',
          writeRole: 'shop_write',
          connectionLimit: 5,
          kernelHost: undefined,
          kernelPort: undefined,
          source: 'test',
        },
        {
          rolePrefix: 'rg_',
          env: { SHOP_ADMIN_URL: `postgresql://admin:pw@127.0.0.1:${peer.port}/shop` },
          connectTimeoutMs: TIMEOUT_MS,
          statementTimeoutMs: TIMEOUT_MS,
        },
      );
      try {
        const result = await settlesWithin(
          driver.issueRead({ id: randomUUID(), expiresAt: new Date(Date.now() + 60_000) }),
          DEADLINE_MS,
          'minting a role on a hung target',
        );
        const err = rejection(result);
        expect(err).toBeInstanceOf(RungateError);
        expect((err as RungateError).code).toBe(ErrorCode.Unavailable);
        expect((err as RungateError).message).toContain('could not issue credentials');
        expect(peer.connections).toBeGreaterThanOrEqual(1);
      } finally {
        await driver.close();
      }
    });

    it('gives up on a statement the server never answers after the connection started', async () => {
      // Completes the start-up exchange (AuthenticationOk, ReadyForQuery), then swallows every query.
      const sockets = new Set<Socket>();
      let queries = 0;
      const server: Server = createServer((socket) => {
        sockets.add(socket);
        let started = false;
        socket.on('error', () => undefined);
        socket.on('data', () => {
          if (!started) {
            started = true;
            const authOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
            const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
            socket.write(Buffer.concat([authOk, ready]));
            return;
          }
          queries++; // a statement (Parse/Bind/Execute), left unanswered
        });
      });
      const port = await listen(server, '127.0.0.1');
      const client = new PostgresRolesClient(`postgresql://admin:pw@127.0.0.1:${port}/shop`, {
        connectTimeoutMs: TIMEOUT_MS,
        statementTimeoutMs: TIMEOUT_MS,
      });
      try {
        const result = await settlesWithin(
          client.listRoles('rg_'),
          DEADLINE_MS,
          'a statement on a target that stopped answering',
        );
        expect(String(rejection(result))).toContain('Query read timeout');
        expect(queries).toBeGreaterThanOrEqual(1);
      } finally {
        await client.close().catch(() => undefined);
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe(KafkaAuditSink.name, () => {
    it('fails a publish to a broker that accepts and never answers', async () => {
      const peer = await hangingTcp();
      const sink = new KafkaAuditSink({
        brokers: [`127.0.0.1:${peer.port}`],
        clientId: 'rungate-timeouts-test',
        ssl: false,
        topic: `rungate.timeouts.${randomUUID()}`,
        createTopic: false,
        topicPartitions: 1,
        topicReplicationFactor: 1,
        source: 'urn:rungate:test',
        connectionTimeoutMs: TIMEOUT_MS,
        requestTimeoutMs: TIMEOUT_MS,
      });
      try {
        const result = await settlesWithin(
          sink.publish([
            {
              id: randomUUID(),
              chain: randomUUID(),
              seq: 1,
              type: 'session.started',
              time: new Date().toISOString(),
              body: '{}',
              traceparent: null,
              tracestate: null,
              recordedAt: new Date(),
            },
          ]),
          DEADLINE_MS,
          'publishing to a hung broker',
        );
        // KafkaJS's own words for a broker it reached but could not talk to.
        expect(String(rejection(result))).toMatch(/timed out|not connected|connection/i);
        expect(peer.connections).toBeGreaterThanOrEqual(1);
      } finally {
        await sink.close();
      }
    });
  });
});
