import { Module } from '@nestjs/common';
import { KernelsModule } from '../kernels/kernels.module';
import { RunbooksModule } from '../runbooks';
import { TargetsModule } from '../targets/targets.module';
import { SessionResourceResolver, StartSessionResourceResolver } from './session-resource.resolver';
import { SessionsController } from './sessions.controller';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [KernelsModule, RunbooksModule, TargetsModule],
  controllers: [SessionsController],
  providers: [SessionsRepository, SessionsService, SessionResourceResolver, StartSessionResourceResolver],
  exports: [SessionsService],
})
export class SessionsModule {}
