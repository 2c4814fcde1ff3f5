import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { ClientAuthConfigDto } from './dto/auth-config.responses';
import { Public } from './public.decorator';

/** What a client needs to sign people in for this gateway; nothing secret. */
export interface ClientAuthConfig {
  /** The OIDC issuer whose tokens the gateway accepts (discovery at `/.well-known/openid-configuration`). */
  readonly issuer: string;
  /** Audience (resource) of the gateway's access tokens. */
  readonly audience: string;
  /** Public client for the CLI (device authorization grant, RFC 8628). */
  readonly cli: { readonly clientId: string; readonly scope: string };
  /** How recent a sign-in approving, denying and breaking glass need, in seconds. */
  readonly stepUpMaxAgeSeconds: number;
}

/**
 * Tells clients (the `rungate` CLI) which issuer to sign in at and as which client, so
 * that a person needs only the gateway's URL. Public: it is what a client needs before
 * it has a token.
 */
@ApiTags('auth')
@Controller('auth')
export class AuthConfigController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get('config')
  @Public()
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'The issuer and client id to sign in with (for the CLI)' })
  @ApiOkResponse({ type: ClientAuthConfigDto })
  clientConfig(): ClientAuthConfig & ClientAuthConfigDto {
    const { issuer, audience, cliClientId, stepUpMaxAgeSec } = this.config.auth;
    if (issuer === undefined) throw new Error('auth.issuer is not resolved');
    return {
      issuer,
      audience,
      cli: { clientId: cliClientId, scope: 'openid offline_access' },
      stepUpMaxAgeSeconds: stepUpMaxAgeSec,
    };
  }
}
