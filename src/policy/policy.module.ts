import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PolicyController } from './policy.controller';
import { PolicyGuard } from './policy.guard';
import { PolicyHealthIndicator } from './policy.health';
import { PolicyService } from './policy.service';

/**
 * Authorization for the whole gateway. Global, because every feature module asks
 * `PolicyService` and the guard is registered app-wide (`APP_GUARD`, after the auth guard).
 */
@Global()
@Module({
  imports: [TerminusModule],
  controllers: [PolicyController],
  providers: [PolicyService, PolicyGuard, PolicyHealthIndicator],
  exports: [PolicyService, PolicyGuard, PolicyHealthIndicator],
})
export class PolicyModule {}
