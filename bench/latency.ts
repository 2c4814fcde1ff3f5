/**
 * `npm run bench:latency`: how fast the kernel layer reacts, the figures the tests used
 * to assert as wall-clock thresholds (a warm kernel "in under 500 ms", an interrupt "within
 * 2 s", a death "within 5 s"). The tests now wait on the events themselves with generous
 * deadlines, since a busy machine makes any threshold flaky; the numbers live here.
 *
 * Real sandboxed ipykernel processes through KernelsService (as test/medium/kernels.test.ts),
 * BENCH_LATENCY_RUNS samples of each (5):
 * 1. acquiring a kernel from a full warm pool;
 * 2. from `interrupt()` to the cell's KeyboardInterrupt result (`time.sleep(60)` running);
 * 3. from sending a cell that calls `os._exit(1)` to its `kernel_died` result;
 * 4. from a kernel stopping itself (SIGSTOP) to being declared dead by its heartbeat
 *    (the design promises "a dead kernel is seen within 5 s").
 */
import { KernelsService } from '../src/kernels/kernels.service';
import type { Kernel } from '../src/kernels/kernels.types';
import { isStreamMsg } from '../src/kernels/messages';
import { kernelTestConfig, waitUntil } from '../test/support/kernels';
import { ms, summary, timeIt } from './stats';

const RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 5);

function report(what: string, samples: number[]): void {
  const s = summary(samples);
  console.log(`${what}: p50 ${ms(s.p50)}, max ${ms(Math.max(...samples))} (n=${s.n})`);
}

/**
 * Starts `code`; resolves once the cell printed its first line, with its completion
 * (wrapped: an async function returning a promise would wait for it).
 */
async function running(kernel: Kernel, code: string): Promise<{ done: Promise<unknown> }> {
  let started = false;
  const done = kernel.execute(code, {
    onIopub: (m) => {
      if (isStreamMsg(m)) started = true;
    },
  });
  await waitUntil(() => started, 30_000, 'the cell to start');
  return { done };
}

async function main(): Promise<void> {
  const { config, cleanup } = await kernelTestConfig({ RUNGATE_KERNEL_POOL_SIZE: '1' });
  const service = new KernelsService(config);
  try {
    await service.onModuleInit();
    const poolReady = () => service.poolStats().python3?.ready === 1;

    const acquire: number[] = [];
    const interrupt: number[] = [];
    const death: number[] = [];
    const heartbeat: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await waitUntil(poolReady, 60_000, 'a ready pooled kernel');
      let kernel: Kernel | undefined;
      acquire.push(
        await timeIt(async () => {
          kernel = await service.acquire();
        }),
      );
      const k = kernel as Kernel;

      const sleeping = await running(
        k,
        "import time\nprint('sleeping', flush=True)\ntime.sleep(60)",
      );
      interrupt.push(
        await timeIt(async () => {
          await k.interrupt();
          await sleeping.done;
        }),
      );

      // From sending the cell: its dispatch is a few ms of this.
      death.push(await timeIt(() => k.execute('import os\nos._exit(1)')));

      const hung = await service.acquire();
      const died = new Promise<void>((resolve) => hung.onDied(() => resolve()));
      heartbeat.push(
        await timeIt(async () => {
          void hung.execute('import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)');
          await died;
        }),
      );
    }
    report('warm kernel acquired', acquire);
    report('interrupt to KeyboardInterrupt', interrupt);
    report('os._exit to kernel_died', death);
    report('SIGSTOP to dead by heartbeat', heartbeat);
  } finally {
    await service.onApplicationShutdown();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
