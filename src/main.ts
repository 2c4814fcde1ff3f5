// Telemetry first: it patches `http` before anything else loads it.
import './telemetry/register';
import 'reflect-metadata';
import type { DynamicModule, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PinoLogger } from 'nestjs-pino';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { AppModule } from './app.module';
import { assertAuthConfigurable, needsDevIssuer, startDevIssuer, withIssuer } from './auth';
import { DEMO_PEOPLE } from './auth/dev-issuer/demo-people';
import { configureApp } from './app.setup';
import type { AppConfig } from './config/config.types';
import { ConfigError, loadConfig } from './config/load-config';
import { assertKernelsRunnable, KernelsService } from './kernels/kernels.service';
import { startDemoTarget, type RunningDemoTarget } from './demo-target';
import { withEmbeddedTarget } from './targets';

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Refuses set-ups that would expose the gateway without identity, or whose web sign-in
 * could not know where to send people back.
 */
function assertSafeToServe(config: AppConfig): void {
  if (isLoopback(config.http.host)) return;
  const problems: string[] = [];
  if (!config.auth.issuer) {
    problems.push(
      `RUNGATE_HOST=${config.http.host} is not a loopback address: serving beyond this machine ` +
        'needs a real identity provider (set OIDC_ISSUER)',
    );
  }
  if (config.web.publicUrl === undefined) {
    problems.push(
      `RUNGATE_HOST=${config.http.host} is not a loopback address: set RUNGATE_PUBLIC_URL to the ` +
        'address people open (the web sign-in returns to <RUNGATE_PUBLIC_URL>/auth/callback)',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** How long the start-up banner waits for the warm pool's first kernels at most. */
const BANNER_WAIT_MS = 15_000;

async function main(): Promise<void> {
  let config = loadConfig();
  assertSafeToServe(config);
  assertAuthConfigurable(config);
  // A kernel sandbox that cannot work here stops the start-up with what to do about it.
  assertKernelsRunnable(config);
  // Without an identity provider (never in production) the gateway brings its own, with demo people.
  const devIssuer = needsDevIssuer(config) ? await startDevIssuer(config) : undefined;
  if (devIssuer) config = withIssuer(config, devIssuer.issuer);
  // The demo target is an ordinary http target whose address and tokens exist only once it serves.
  const demo = config.demoTarget.enabled ? await startDemoTarget(config) : undefined;
  if (demo) config = withEmbeddedTarget(config, demo.target);
  const root = AppModule.forRoot(config);
  const app = await NestFactory.create<NestExpressApplication>(
    demo ? stoppedWithApp(root, demo) : root,
    { bufferLogs: true, bodyParser: false },
  );
  configureApp(app, config);
  exitIfShutdownHangs(config);
  await app.listen(config.http.port, config.http.host);
  const url = await app.getUrl();
  // The banner comes last, where a person looks: after the start-up logs and those of
  // the warm pool's first kernels (bounded, so a slow kernel start does not hide it).
  app.flushLogs();
  await Promise.race([
    app.get(KernelsService).poolsSettled(),
    new Promise((resolve) => setTimeout(resolve, BANNER_WAIT_MS).unref()),
  ]);
  await new Promise<void>((resolve) => PinoLogger.root.flush(() => resolve()));
  process.stdout.write(banner(url.replace('[::1]', 'localhost'), config, devIssuer?.issuer, demo));
}

/** Beyond the drain, what the last shutdown steps may take (kernels, credentials, relay, database). */
const SHUTDOWN_STEPS_MS = 60_000;

/**
 * A bound on the whole shutdown (the hooks run by enableShutdownHooks: drain, session
 * ends, relay flush): a step that hangs (a target that does not answer) must not keep a
 * stopping process alive forever. Exits 1 so a supervisor sees it was not clean.
 */
function exitIfShutdownHangs(config: AppConfig): void {
  const arm = (signal: NodeJS.Signals) => {
    const limit = config.sessions.shutdownGraceMs + SHUTDOWN_STEPS_MS;
    setTimeout(() => {
      process.stderr.write(`rungate: shutdown after ${signal} took over ${limit} ms; exiting\n`);
      process.exit(1);
    }, limit).unref();
  };
  process.once('SIGTERM', arm);
  process.once('SIGINT', arm);
}

/**
 * The app, with a provider that stops `demo` in the last shutdown phase (shutdown
 * hooks are enabled by configureApp, so SIGTERM and SIGINT get there): sessions
 * have ended by then (beforeApplicationShutdown), so no kernel still uses it.
 */
function stoppedWithApp(root: DynamicModule, demo: RunningDemoTarget): DynamicModule {
  const stopper: OnApplicationShutdown = { onApplicationShutdown: () => demo.stop() };
  return {
    ...root,
    providers: [...(root.providers ?? []), { provide: 'DEMO_TARGET_STOPPER', useValue: stopper }],
  };
}

/**
 * What `npm start` prints last, as plain lines on stdout (the logs are JSON): where to
 * open the web app, whom to sign in as, and how to call the API from a shell.
 */
function banner(
  url: string,
  config: AppConfig,
  devIssuer: string | undefined,
  demo: RunningDemoTarget | undefined,
): string {
  const tokenStep = devIssuer
    ? [
        `  TOKEN=$(curl -s -u demo-alice:demo -d grant_type=client_credentials ${devIssuer}/token \\`,
        `          | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')`,
      ]
    : ['  TOKEN=<an access token from your identity provider>'];
  const appUrl = `${config.web.publicUrl ?? url}/`;
  const built = existsSync(join(config.web.appDir, 'index.html'));
  const width = Math.max(...DEMO_PEOPLE.map((p) => p.username.length));
  return [
    '',
    `rungate is serving on ${url}  (API docs: ${url}/docs)`,
    demo
      ? `Demo production target "demo-shop" is up at ${demo.url}; the sample runbooks query it.`
      : '',
    '',
    `Open the web app: ${appUrl}`,
    ...(built ? [] : ['  (not built yet: run `npm run build:web`, then reload the page)']),
    devIssuer
      ? 'Sign in as one of the demo people (development identity provider, any password):'
      : 'Sign in with your identity provider.',
    ...(devIssuer
      ? DEMO_PEOPLE.map((p) => `  ${p.username.padEnd(width)}  ${roleOf(p.groups)}`)
      : []),
    '',
    'Or call the API from a shell:',
    ...tokenStep,
    `  curl -s -H "Authorization: Bearer $TOKEN" ${url}/v1/runbooks`,
    `  curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `       -d '{"runbook":"shop/checkout-errors","reason":"trying rungate"}' ${url}/v1/sessions`,
    devIssuer ? `  (scripts: client demo-<name>, secret demo, at ${devIssuer}/token)` : '',
    '',
  ]
    .filter((l, i, all) => l !== '' || (i > 0 && all[i - 1] !== ''))
    .join('\n')
    .concat('\n');
}

/** What a demo person may do, from their groups (see policies/policy.csv). */
function roleOf(groups: readonly string[]): string {
  const roles: Record<string, [name: string, does: string]> = {
    oncall: ['on-call engineer', 'runs runbooks, requests approvals'],
    approvers: ['approver', 'reviews and grants mutating cells'],
    security: ['security auditor', 'reads and verifies the audit trail'],
  };
  if (groups.length === 0) return 'no rights (to see what a refusal looks like)';
  const known = groups.map((g) => roles[g] ?? [g, '']);
  if (known.length === 1) return known[0][1] ? `${known[0][0]}: ${known[0][1]}` : known[0][0];
  return known.map(([name]) => name).join(' and ');
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`rungate cannot start: ${err.message}\n`);
  } else {
    process.stderr.write(`rungate failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
});
