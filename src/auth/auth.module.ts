import { Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { AuthConfigController } from './auth-config.controller';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { IssuerClient } from './issuer.client';

/**
 * Bearer-token authentication. Needs `config.auth.issuer` resolved (see `withIssuer` and
 * `startDevIssuer`). Register {@link AuthGuard} as `APP_GUARD` to protect every route.
 * Serves `GET /v1/auth/config` (public): the issuer and client a CLI signs in with.
 */
@Module({
  controllers: [AuthConfigController],
  providers: [
    {
      provide: IssuerClient,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new IssuerClient(IssuerClient.optionsFrom(config)),
    },
    {
      provide: AuthService,
      inject: [IssuerClient, APP_CONFIG],
      useFactory: (issuer: IssuerClient, config: AppConfig) =>
        new AuthService(issuer, { groupsClaim: config.auth.groupsClaim }),
    },
    {
      // Every refused authentication counts against its address.
      provide: AuthFailureLimiter,
      inject: [AuthService, APP_CONFIG],
      useFactory: (auth: AuthService, config: AppConfig) => {
        const limiter = new AuthFailureLimiter({
          failures: config.auth.failureLimit,
          windowSec: config.auth.failureWindowSec,
        });
        auth.onAuthFailure((f) => limiter.record(f.ip));
        return limiter;
      },
    },
    AuthGuard,
  ],
  exports: [AuthService, AuthGuard, IssuerClient],
})
export class AuthModule {}
