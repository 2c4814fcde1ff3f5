import { ConfigError } from '../config/load-config';
import type { AppConfig } from '../config/config.types';
import { isLoopbackUrl } from './issuer.client';

/**
 * Refuses configurations the gateway must not start with; call at boot, before anything
 * listens. Production needs a real issuer: the development issuer hands out tokens to
 * anyone who knows the demo secret.
 */
export function assertAuthConfigurable(config: AppConfig): void {
  const { issuer, introspectionClientId, introspectionClientSecret } = config.auth;
  const problems: string[] = [];
  if (issuer === undefined) {
    if (config.nodeEnv === 'production') {
      problems.push(
        'OIDC_ISSUER must be set when NODE_ENV=production: the development OIDC issuer (demo users, known secrets) is never started in production',
      );
    }
  } else {
    let url: URL | undefined;
    try {
      url = new URL(issuer);
    } catch {
      problems.push(`OIDC_ISSUER must be a URL (got "${issuer}")`);
    }
    if (url !== undefined && url.protocol !== 'https:') {
      const httpTolerated =
        url.protocol === 'http:' && (config.nodeEnv !== 'production' || isLoopbackUrl(issuer));
      if (!httpTolerated) problems.push('OIDC_ISSUER must use https in production');
    }
  }
  if ((introspectionClientId === undefined) !== (introspectionClientSecret === undefined)) {
    problems.push(
      'OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set together (token introspection)',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Whether the gateway should serve the development issuer (no issuer set, not production). */
export function needsDevIssuer(config: AppConfig): boolean {
  return config.auth.issuer === undefined && config.nodeEnv !== 'production';
}

/** The configuration with the issuer resolved (e.g. to the development issuer's URL). */
export function withIssuer(config: AppConfig, issuer: string): AppConfig {
  return Object.freeze({ ...config, auth: Object.freeze({ ...config.auth, issuer }) });
}
