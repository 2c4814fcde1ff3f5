import { Injectable, Optional } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { DemoTargetService } from '../demo-target/demo-target.service';
import { targetEnvPrefix, type SessionCredentials } from './targets.types';

/**
 * Production targets and their credentials. A session receives read-only
 * credentials for each target its runbook declares; nothing else.
 */
@Injectable()
export class TargetsService {
  constructor(@Optional() private readonly demo?: DemoTargetService) {}

  /** Names of the targets this gateway can reach. */
  names(): string[] {
    return this.demo ? ['demo-shop'] : [];
  }

  /** Read-only credentials for one session; refuses a runbook whose target is not configured. */
  async issueSessionCredentials(targets: readonly string[]): Promise<SessionCredentials> {
    const env: Record<string, string> = {};
    const secrets: string[] = [];
    for (const name of targets) {
      if (name === 'demo-shop' && this.demo) {
        const c = this.demo.credentials();
        const p = targetEnvPrefix(name);
        env[`${p}_KIND`] = 'http';
        env[`${p}_URL`] = c.url;
        env[`${p}_TOKEN`] = c.readOnlyToken;
        // The elevated token must never show either, should a runbook come by it.
        secrets.push(c.readOnlyToken, c.elevatedToken);
        continue;
      }
      throw new RungateError(
        ErrorCode.Unavailable,
        `the runbook needs target "${name}", which is not configured on this gateway`,
        { target: name, configured: this.names() },
      );
    }
    return { env, secrets, release: async () => undefined };
  }
}
