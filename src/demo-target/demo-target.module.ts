import { Module } from '@nestjs/common';
import { DemoTargetService } from './demo-target.service';

/** The embedded demo production target ("demo-shop"). Needs the global ConfigModule. */
@Module({
  providers: [DemoTargetService],
  exports: [DemoTargetService],
})
export class DemoTargetModule {}
