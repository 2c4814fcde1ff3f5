import { Module } from '@nestjs/common';
import { RunbookFiles } from './runbook-files';
import { RunbookKernelspecs } from './runbook-kernelspecs';
import { RunbooksService } from './runbooks.service';

/** The runbook catalog. Needs the global ConfigModule. */
@Module({
  providers: [RunbookFiles, RunbookKernelspecs, RunbooksService],
  exports: [RunbooksService],
})
export class RunbooksModule {}
