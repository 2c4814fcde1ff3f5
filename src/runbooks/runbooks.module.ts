import { Module } from '@nestjs/common';
import { RunbookFiles } from './runbook-files';
import { RunbooksService } from './runbooks.service';

/** The runbook catalog. Needs the global ConfigModule. */
@Module({
  providers: [RunbookFiles, RunbooksService],
  exports: [RunbooksService],
})
export class RunbooksModule {}
