// Telemetry first: it patches `http` before anything else loads it.
import './telemetry/register';
import 'reflect-metadata';
import type { DynamicModule, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { isIP } from 'node:net';
import { AppModule } from './app.module';
import { assertAuthConfigurable, needsDevIssuer, startDevIssuer, withIssuer } from './auth';
import { configureApp } from './app.setup';
import type { AppConfig } from './config/config.types';
import { ConfigError, loadConfig } from './config/load-config';
import { assertKernelsRunnable } from './kernels/kernels.service';
import { startDemoTarget, type RunningDemoTarget } from './demo-target';
import { withEmbeddedTarget } from './targets';

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Refuses set-ups that would expose the gateway without identity. */
function assertSafeToServe(config: AppConfig): void {
  if (!isLoopback(config.http.host) && !config.auth.issuer) {
    throw new ConfigError([
      `RUNGATE_HOST=${config.http.host} is not a loopback address: serving beyond this machine ` +
        'needs a real identity provider (set OIDC_ISSUER)',
    ]);
  }
}

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
  await app.listen(config.http.port, config.http.host);
  const url = await app.getUrl();
  process.stderr.write(banner(url.replace('[::1]', 'localhost'), config, devIssuer?.issuer, demo));
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
  return [
    '',
    `rungate is serving on ${url}  (API docs: ${url}/docs)`,
    devIssuer
      ? `Development identity provider: ${devIssuer} (demo people alice, bob, dave, carol, mallory; client demo-<name>, secret demo)`
      : '',
    demo
      ? `Demo production target "demo-shop" is up at ${demo.url}; the sample runbooks query it.`
      : '',
    'Try it:',
    ...tokenStep,
    `  curl -s -H "Authorization: Bearer $TOKEN" ${url}/v1/runbooks`,
    `  curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `       -d '{"runbook":"shop/checkout-errors","reason":"trying rungate"}' ${url}/v1/sessions`,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`rungate cannot start: ${err.message}\n`);
  } else {
    process.stderr.write(`rungate failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
});
