import { ErrorCode, RungateError } from '../common/errors';
import type { DemoTargetService } from '../demo-target/demo-target.service';
import { readSecret } from './secret-ref';
import type { Grant, TargetDriver } from './target-driver';
import type {
  SecretRef,
  StaticTargetDefinition,
  SweepReport,
  TargetDescription,
} from './targets.types';
import { targetEnvPrefix } from './targets.types';

/** Fixed values cannot be revoked: releasing one only ends its use by the kernel. */
const nothingToRevoke = async (): Promise<void> => undefined;
const nothingToSweep: SweepReport = { dropped: [], failed: [] };

/**
 * A target with fixed credentials read from the environment or files at each grant
 * (so rotation needs no restart). Only the read-only value reaches a session; the
 * elevated one only an approved cell.
 */
export class StaticTargetDriver implements TargetDriver {
  readonly description: TargetDescription;

  constructor(
    private readonly def: StaticTargetDefinition,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    this.description = { name: def.name, environment: def.environment, kind: 'static' };
  }

  async issueRead(): Promise<Grant> {
    const value = this.read('readOnly', this.def.readOnly);
    // The elevated value is redacted too, should a runbook come by it some other way.
    const elevated = this.def.elevated ? this.tryRead(this.def.elevated) : undefined;
    return this.grant(value, 'read', elevated === undefined ? [] : [elevated]);
  }

  async issueElevated(): Promise<Grant> {
    if (this.def.elevated === undefined) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}" has no elevated value configured, so it grants no elevated access`,
        { target: this.def.name },
      );
    }
    return this.grant(this.read('elevated', this.def.elevated), 'elevated', []);
  }

  async sweep(): Promise<SweepReport> {
    return nothingToSweep;
  }

  async close(): Promise<void> {}

  private grant(value: string, access: 'read' | 'elevated', moreSecrets: string[]): Grant {
    const prefix = targetEnvPrefix(this.def.name);
    const env: Record<string, string> = {
      [`${prefix}_NAME`]: this.def.name,
      [`${prefix}_KIND`]: this.def.protocol,
    };
    if (this.def.protocol === 'http') {
      env[`${prefix}_URL`] = this.def.url ?? '';
      env[`${prefix}_TOKEN`] = value;
    } else {
      env[`${prefix}_DSN`] = value;
    }
    return {
      env,
      secrets: [value, ...moreSecrets],
      issued: { target: this.def.name, kind: 'static', access },
      release: nothingToRevoke,
    };
  }

  private read(field: string, ref: SecretRef): string {
    try {
      return readSecret(ref, this.env);
    } catch (err) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}": ${field}: ${(err as Error).message}`,
        {
          target: this.def.name,
        },
      );
    }
  }

  private tryRead(ref: SecretRef): string | undefined {
    try {
      return readSecret(ref, this.env);
    } catch {
      return undefined;
    }
  }
}

/** The embedded demo-shop: an http target whose tokens the demo target service makes at each start. */
export class DemoTargetDriver implements TargetDriver {
  readonly description: TargetDescription;

  constructor(
    readonly name: string,
    private readonly demo: DemoTargetService,
  ) {
    this.description = { name, environment: 'prod', kind: 'static' };
  }

  async issueRead(): Promise<Grant> {
    const c = this.demo.credentials();
    return this.grant(c.url, c.readOnlyToken, 'read', [c.readOnlyToken, c.elevatedToken]);
  }

  async issueElevated(): Promise<Grant> {
    const c = this.demo.credentials();
    return this.grant(c.url, c.elevatedToken, 'elevated', [c.elevatedToken]);
  }

  async sweep(): Promise<SweepReport> {
    return nothingToSweep;
  }

  async close(): Promise<void> {}

  private grant(url: string, token: string, access: 'read' | 'elevated', secrets: string[]): Grant {
    const prefix = targetEnvPrefix(this.name);
    return {
      env: {
        [`${prefix}_NAME`]: this.name,
        [`${prefix}_KIND`]: 'http',
        [`${prefix}_URL`]: url,
        [`${prefix}_TOKEN`]: token,
      },
      secrets,
      issued: { target: this.name, kind: 'static', access },
      release: nothingToRevoke,
    };
  }
}
