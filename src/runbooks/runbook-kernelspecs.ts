import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { discoverKernelSpecs, kernelSearchDirs } from '../kernels/kernelspecs';
import type { KernelspecLanguages } from './kernel-language';

/**
 * The kernelspecs side of the catalog: which language each installed kernelspec is
 * in, read from the directories the kernels module searches. Read with the files,
 * not from KernelsService, so the catalog needs no kernels (nor their warm pools);
 * unusable kernel.json files are the kernels module's to report.
 */
@Injectable()
export class RunbookKernelspecs {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Read afresh at each catalog reload. */
  languages(): KernelspecLanguages {
    const dirs = kernelSearchDirs(this.config.kernels.specDirs, process.env);
    const { specs } = discoverKernelSpecs(dirs);
    return new Map([...specs.values()].map((s) => [s.name, s.language]));
  }
}
