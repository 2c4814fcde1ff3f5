import { Module } from '@nestjs/common';
import { GitCatalogSource } from './git-catalog';
import { RunbookLinter } from './lint';
import { RunbookFiles } from './runbook-files';
import { RunbookKernelspecs } from './runbook-kernelspecs';
import { RunbooksService } from './runbooks.service';

/** The runbook catalog. Needs the global ConfigModule. */
@Module({
  providers: [GitCatalogSource, RunbookFiles, RunbookKernelspecs, RunbookLinter, RunbooksService],
  exports: [RunbooksService],
})
export class RunbooksModule {}
