import { Module } from '@nestjs/common';
import { TargetsService } from './targets.service';

/** Needs the global ConfigModule; embedded targets (the demo target) come in its `targets.embedded`. */
@Module({
  providers: [TargetsService],
  exports: [TargetsService],
})
export class TargetsModule {}
