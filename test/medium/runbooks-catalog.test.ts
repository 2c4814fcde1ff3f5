import { Test } from '@nestjs/testing';
import { mkdtemp, mkdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { RunbooksModule } from '../../src/runbooks/runbooks.module';
import { RunbooksService } from '../../src/runbooks/runbooks.service';

const ROOT = resolve(__dirname, '..', '..');
/** A deadline for a watcher that never reports, not a measure of how soon it does. */
const RELOAD_DEADLINE_MS = 15_000;

function notebookJson(title: string, code = 'print("hello")', kernel?: string): string {
  return JSON.stringify(
    {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        ...(kernel ? { kernelspec: { name: kernel, display_name: kernel } } : {}),
        rungate: {
          title,
          description: '',
          owner: 'sre',
          targets: ['demo-shop'],
          environment: 'prod',
        },
      },
      cells: [
        { id: 'md', cell_type: 'markdown', metadata: {}, source: `# ${title}` },
        {
          id: 'look',
          cell_type: 'code',
          metadata: {},
          source: code,
          outputs: [],
          execution_count: null,
        },
      ],
    },
    null,
    1,
  );
}

/** Installs a kernelspec `name` of `language` under `specsDir`. */
async function installKernelspec(specsDir: string, name: string, language: string): Promise<void> {
  await mkdir(join(specsDir, name), { recursive: true });
  await writeFile(
    join(specsDir, name, 'kernel.json'),
    JSON.stringify({
      argv: ['/bin/false', '-f', '{connection_file}'],
      display_name: name,
      language,
    }),
  );
}

/** Resolves when the catalog reports `id` changed and `check` holds; fails after the deadline. */
function waitForChange(
  service: RunbooksService,
  id: string,
  check: () => boolean = () => true,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no change event for ${id} within ${RELOAD_DEADLINE_MS} ms`));
    }, RELOAD_DEADLINE_MS);
    const stop = service.onChange((changed) => {
      if (changed !== id || !check()) return;
      clearTimeout(timer);
      stop();
      resolvePromise();
    });
  });
}

describe(RunbooksService.name, () => {
  let dir: string;
  let specsDir: string;
  let service: RunbooksService;
  let close: () => Promise<void>;
  const reasonOf = (id: string): string => {
    const entry = service.list().find((r) => r.id === id);
    return entry && !entry.valid ? entry.reason : '';
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-catalog-'));
    await mkdir(join(dir, 'shop'));
    await writeFile(join(dir, 'shop', 'first.ipynb'), notebookJson('First'));
    await writeFile(join(dir, 'second.ipynb'), notebookJson('Second'));
    // Kernelspecs of the catalog's own: the default python3 (Python) and an R kernel.
    specsDir = await mkdtemp(join(tmpdir(), 'rungate-catalog-kernels-'));
    await installKernelspec(specsDir, 'python3', 'python');
    await installKernelspec(specsDir, 'ir', 'R');
    const config = loadConfig(
      {
        NODE_ENV: 'test',
        RUNGATE_RUNBOOKS_DIR: dir,
        RUNGATE_RUNBOOK_MAX_BYTES: '4096',
        RUNGATE_KERNELSPEC_DIRS: specsDir,
      },
      ROOT,
    );
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), RunbooksModule],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(RunbooksService);
    close = () => moduleRef.close();
  });

  afterAll(async () => {
    await close?.();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (specsDir) await rm(specsDir, { recursive: true, force: true });
  });

  describe('list', () => {
    it('lists the notebooks under the folder by path id', () => {
      expect(service.list().map((r) => [r.id, r.valid])).toEqual([
        ['second', true],
        ['shop/first', true],
      ]);
      expect(service.get('shop/first').title).toBe('First');
    });
  });

  describe('reload', () => {
    it('lists a malformed notebook as invalid once written, and keeps the others valid', async () => {
      const changed = waitForChange(service, 'broken');
      await writeFile(join(dir, 'broken.ipynb'), '{\n "nbformat": 4,\n "cells": [\n');
      await changed;
      const broken = service.list().find((r) => r.id === 'broken');
      expect(broken).toMatchObject({
        valid: false,
        reason: expect.stringMatching(/^invalid JSON at line 4, column 1: /),
      });
      expect(
        service
          .list()
          .filter((r) => r.valid)
          .map((r) => r.id),
      ).toEqual(['second', 'shop/first']);
      expect(() => service.get('broken')).toThrow(
        expect.objectContaining({ code: ErrorCode.RunbookInvalid }),
      );
    });

    it('picks up an edited notebook as a new version and still serves the old one', async () => {
      const before = service.get('second');
      const changed = waitForChange(
        service,
        'second',
        () => service.get('second').version !== before.version,
      );
      await writeFile(join(dir, 'second.ipynb'), notebookJson('Second', 'print("edited")'));
      await changed;
      const after = service.get('second');
      expect(after.cells[1].source).toBe('print("edited")');
      expect(service.getVersion('second', before.version)).toEqual(before);
      expect(service.getVersion('second', after.version)).toBe(after);
    });

    it('lists a notebook with a nbformat problem with its precise reason', async () => {
      const nb = JSON.parse(notebookJson('Dup')) as { cells: Array<{ id: string }> };
      nb.cells[1].id = 'md';
      const changed = waitForChange(service, 'dup', () => /duplicate/.test(reasonOf('dup')));
      await writeFile(join(dir, 'dup.ipynb'), JSON.stringify(nb));
      await changed;
      expect(service.list().find((r) => r.id === 'dup')).toMatchObject({
        valid: false,
        reason: 'cells[1]: duplicate id "md" (also cells[0])',
      });
    });

    it('refuses a file over the size limit', async () => {
      const changed = waitForChange(service, 'huge', () => /over the limit/.test(reasonOf('huge')));
      await writeFile(join(dir, 'huge.ipynb'), notebookJson('Huge', `x = "${'a'.repeat(5000)}"`));
      await changed;
      expect(service.list().find((r) => r.id === 'huge')).toMatchObject({
        valid: false,
        reason: expect.stringMatching(/over the limit of 4096/),
      });
    });

    it('lists a notebook that is a symbolic link as invalid, without following it', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'rungate-catalog-outside-'));
      try {
        await writeFile(join(outside, 'secret.ipynb'), notebookJson('Outside', 'print("outside")'));
        const changed = waitForChange(service, 'linked', () =>
          /symbolic link/.test(reasonOf('linked')),
        );
        await symlink(join(outside, 'secret.ipynb'), join(dir, 'linked.ipynb'));
        await changed;
        expect(service.list().find((r) => r.id === 'linked')).toMatchObject({
          valid: false,
          reason: expect.stringMatching(/symbolic link/),
        });
        expect(() => service.get('linked')).toThrow(RungateError);
      } finally {
        await unlink(join(dir, 'linked.ipynb')).catch(() => undefined);
        await rm(outside, { recursive: true, force: true });
      }
    });

    it('drops a removed notebook', async () => {
      const changed = waitForChange(service, 'shop/first');
      await unlink(join(dir, 'shop', 'first.ipynb'));
      await changed;
      expect(service.list().some((r) => r.id === 'shop/first')).toBe(false);
      expect(() => service.get('shop/first')).toThrow(RungateError);
      expect(() => service.get('shop/first')).toThrow(
        expect.objectContaining({ code: ErrorCode.NotFound }),
      );
    });
  });

  describe('kernel languages', () => {
    it('lists a runbook whose kernelspec language has no adapter as invalid, saying so', async () => {
      const changed = waitForChange(service, 'r-stats', () => reasonOf('r-stats') !== '');
      await writeFile(join(dir, 'r-stats.ipynb'), notebookJson('R stats', 'summary(x)', 'ir'));
      await changed;
      expect(service.list().find((r) => r.id === 'r-stats')).toMatchObject({
        valid: false,
        reason: 'no kernel-language adapter for R; rungate supports: python',
      });
      expect(() => service.get('r-stats')).toThrow(
        expect.objectContaining({
          code: ErrorCode.RunbookInvalid,
          extensions: expect.objectContaining({
            reason: 'no kernel-language adapter for R; rungate supports: python',
          }),
        }),
      );
    });

    it('keeps runbooks on a Python kernelspec, or on one not installed, valid', async () => {
      const named = waitForChange(service, 'py-named');
      await writeFile(join(dir, 'py-named.ipynb'), notebookJson('Named', 'x = 1', 'python3'));
      await named;
      const unknown = waitForChange(service, 'elsewhere');
      await writeFile(join(dir, 'elsewhere.ipynb'), notebookJson('Elsewhere', 'x = 1', 'nope'));
      await unknown;
      expect(service.get('py-named').kernel).toBe('python3');
      expect(service.get('elsewhere').kernel).toBe('nope');
      expect(service.get('second').kernel).toBe('python3');
    });
  });
});
