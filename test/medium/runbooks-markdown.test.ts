import { Test } from '@nestjs/testing';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { notebookToMyst } from '../../src/runbooks/myst';
import { RunbooksModule } from '../../src/runbooks/runbooks.module';
import { RunbooksService } from '../../src/runbooks/runbooks.service';
import type { Runbook } from '../../src/runbooks/runbooks.types';

const ROOT = resolve(__dirname, '..', '..');

describe(`${RunbooksService.name} with Markdown runbooks`, () => {
  let dir: string;
  let service: RunbooksService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-catalog-md-'));
    await mkdir(join(dir, 'shop'));
    const sample = await readFile(join(ROOT, 'runbooks', 'shop', 'stuck-jobs.ipynb'), 'utf8');
    const md = notebookToMyst(JSON.parse(sample) as Record<string, unknown>);
    // The same runbook in both formats under different ids…
    await writeFile(join(dir, 'shop', 'stuck-jobs.ipynb'), sample);
    await writeFile(join(dir, 'shop', 'stuck-jobs-md.md'), md);
    // …and under the same id, which is a mistake.
    await writeFile(join(dir, 'twice.ipynb'), sample);
    await writeFile(join(dir, 'twice.md'), md);
    // Markdown that is no notebook, and a broken Markdown runbook.
    await writeFile(join(dir, 'README.md'), '# Runbooks\n\nCurated by SRE.\n');
    await writeFile(join(dir, 'broken.md'), '---\nrungate: [\n---\n```{code-cell}\nx\n```\n');
    const config = loadConfig({ NODE_ENV: 'test', RUNGATE_RUNBOOKS_DIR: dir }, ROOT);
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
  });

  it('lists a Markdown runbook and its .ipynb conversion with identical cells and version', () => {
    const md = service.get('shop/stuck-jobs-md');
    const ipynb = service.get('shop/stuck-jobs');
    const strip = ({ id: _id, path: _path, ...rest }: Runbook) => rest;
    expect(md.path).toBe(join(dir, 'shop', 'stuck-jobs-md.md'));
    expect(md.version).toBe(ipynb.version);
    expect(md.content).toBe(ipynb.content);
    expect(strip(md)).toEqual(strip(ipynb));
    expect(md.cells.find((c) => c.id === 'retry')).toMatchObject({
      class: 'mutating',
      timeoutMs: 60_000,
    });
  });

  it('refuses one id defined by both a .md and an .ipynb file, naming both', () => {
    const entry = service.list().find((r) => r.id === 'twice');
    expect(entry).toMatchObject({ valid: false });
    expect(entry && !entry.valid && entry.reason).toMatch(/twice\.ipynb and .*twice\.md/);
  });

  it('leaves out Markdown files that are no notebook and explains broken ones', () => {
    const ids = service.list().map((r) => r.id);
    expect(ids).not.toContain('README');
    const broken = service.list().find((r) => r.id === 'broken');
    expect(broken).toMatchObject({ valid: false });
    expect(broken && !broken.valid && broken.reason).toMatch(/front matter: invalid YAML/);
  });
});
