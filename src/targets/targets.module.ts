import { Module } from '@nestjs/common';
import { DemoTargetModule } from '../demo-target/demo-target.module';
import { TargetsService } from './targets.service';

@Module({
  imports: [DemoTargetModule],
  providers: [TargetsService],
  exports: [TargetsService],
})
export class TargetsModule {}
