/**
 * Kernels as plain child processes of the gateway, under its own user and on the
 * host's network: for development on machines without user namespaces. A cell can
 * read whatever the gateway's user can (see docs/security.md), so production
 * refuses it unless the operator accepts that risk explicitly.
 */
import { prepareConnection } from './connection';
import { KernelProcess } from './kernel-process';
import type { KernelLaunch, KernelProvisioner, ProvisionedProcess } from './provisioner';

export class ProcessProvisioner implements KernelProvisioner {
  readonly name = 'process';
  readonly network = 'host';
  readonly interruptByMessage = false;

  constructor(private readonly transport: 'ipc' | 'tcp') {}

  prepare(kernelName: string): ReturnType<KernelProvisioner['prepare']> {
    return prepareConnection(kernelName, this.transport);
  }

  async launch(launch: KernelLaunch): Promise<ProvisionedProcess> {
    return KernelProcess.spawn(launch.argv, { ...launch.env }, launch.runtime.workDir, launch.log);
  }
}
