/**
 * Starts one sandboxed kernel the way the gateway does and prints, as JSON, what a
 * cell sees from inside. Run by test/medium/sandbox.test.ts as an unprivileged
 * user, to show the sandbox holds when the gateway is not root:
 *   node -r @swc-node/register test/support/sandbox-probe.ts <data dir>
 */
import 'reflect-metadata';
import { loadConfig } from '../../src/config/load-config';
import { KernelsService } from '../../src/kernels/kernels.service';
import type { Kernel } from '../../src/kernels/kernels.types';
import { isStreamMsg } from '../../src/kernels/messages';

async function out(kernel: Kernel, code: string): Promise<unknown> {
  let text = '';
  const result = await kernel.execute(code, {
    onIopub: (m) => {
      if (isStreamMsg(m)) text += m.content.text;
    },
  });
  return result.status === 'ok' ? JSON.parse(text) : result;
}

async function main(): Promise<void> {
  const dataDir = process.argv[2];
  const config = loadConfig({
    NODE_ENV: 'test',
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RUNGATE_DATA_DIR: dataDir,
    RUNGATE_KERNEL_POOL_SIZE: '0',
    RUNGATE_LOG_LEVEL: 'error',
  });
  const service = new KernelsService(config, { ...process.env, DATABASE_URL: 'probe-secret' });
  await service.onModuleInit();
  const kernel = await service.acquire();
  try {
    const seen = await out(
      kernel,
      [
        'import os, json, socket',
        'def reach(port):',
        '    try:',
        '        socket.create_connection(("127.0.0.1", port), timeout=2).close(); return True',
        '    except OSError:',
        '        return False',
        'print(json.dumps({',
        '  "uid": os.getuid(), "uid_map": open("/proc/self/uid_map").read(),',
        '  "pids": [p for p in os.listdir("/proc") if p.isdigit()],',
        `  "gateway": os.path.exists("/proc/${process.pid}"),`,
        `  "data_dir": os.path.exists(${JSON.stringify(dataDir)}),`,
        '  "secret": "probe-secret" in json.dumps(dict(os.environ)),',
        `  "gateway_port": reach(${Number(process.env.PROBE_PORT ?? 0)}),`,
        '}))',
      ].join('\n'),
    );
    const bomb = await out(
      kernel,
      'import json\ntry:\n    x = bytearray(10**10)\n    r = "allocated"\nexcept MemoryError:\n    r = "MemoryError"\nprint(json.dumps(r))',
    );
    process.stdout.write(`${JSON.stringify({ hostUid: process.getuid?.(), seen, bomb })}\n`);
  } finally {
    await service.onApplicationShutdown();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
