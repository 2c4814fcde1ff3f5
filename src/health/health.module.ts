import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuditModule } from '../audit';
import { KernelsModule } from '../kernels/kernels.module';
import { RunbooksModule } from '../runbooks';
import { HealthController } from './health.controller';

@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'json' }),
    AuditModule,
    KernelsModule,
    RunbooksModule,
  ],
  controllers: [HealthController],
})
export class HealthModule {}
