import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { PolicyService } from './policy.service';

/**
 * Readiness of the policy for `/readyz`. Down when no policy is loaded or the files
 * on disk failed to load: the replica still enforces its last good policy, but it
 * no longer enforces what the files say, and an operator must see that.
 */
@Injectable()
export class PolicyHealthIndicator {
  constructor(
    private readonly policy: PolicyService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  isHealthy<const Key extends string>(key: Key) {
    const health = this.policy.health();
    const indicator = this.indicators.check(key);
    const details = { loadedAt: health.loadedAt ?? null, files: [...health.files] };
    return health.ok
      ? indicator.up(details)
      : indicator.down({ ...details, error: health.error ?? 'no policy loaded' });
  }
}
