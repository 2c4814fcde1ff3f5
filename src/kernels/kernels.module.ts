import { Module } from '@nestjs/common';
import { KernelsService } from './kernels.service';

/** Kernel processes and the Jupyter protocol client; see kernels.types.ts for the contract. */
@Module({
  providers: [KernelsService],
  exports: [KernelsService],
})
export class KernelsModule {}
