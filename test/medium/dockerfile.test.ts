import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..', '..');

/**
 * Static checks of the Dockerfile: no container engine runs here, so the image is
 * never built in CI (README, "Running several replicas / deploying"). These catch what
 * breaks a build or a deployment silently: a COPY of a file that is gone or that
 * .dockerignore leaves out of the context, a root user, a health check elsewhere.
 */

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** Instructions by stage; continuation lines joined, comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: m?.[1] ?? '', name: m?.[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** .dockerignore patterns as tests on context paths (a folder excludes what is below it). */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = (negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => {
          if (part === '**/' || part === '**') return '(?:.*/)?';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { negated, re: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const rule of rules) if (rule.re.test(path)) excluded = !rule.negated;
    return excluded;
  };
}

/** Sources of a COPY (flags and the destination left out). */
function copySources(args: string): { from?: string; sources: string[] } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1) };
}

describe('Dockerfile', () => {
  let stages: Stage[];
  let runtime: Stage;
  let ignored: (path: string) => boolean;

  beforeAll(async () => {
    stages = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'));
    runtime = stages[stages.length - 1];
    ignored = dockerignore(await readFile(join(ROOT, '.dockerignore'), 'utf8'));
  });

  const all = (stage: Stage, keyword: string): string[] =>
    stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  /** The stage and those it is built FROM, nearest first. */
  const lineage = (stage: Stage): Stage[] => {
    const chain = [stage];
    for (let s = stage; ;) {
      const parent = stages.find((x) => x.name === s.from);
      if (parent === undefined) return chain;
      chain.push(parent);
      s = parent;
    }
  };

  it('copies only files that exist and that .dockerignore keeps in the context', () => {
    const copied: string[] = [];
    for (const stage of stages) {
      for (const args of [...all(stage, 'COPY'), ...all(stage, 'ADD')]) {
        const { from, sources } = copySources(args);
        if (from !== undefined) {
          expect(
            stages.map((s) => s.name),
            `COPY --from=${from}`,
          ).toContain(from);
          continue;
        }
        for (const source of sources) {
          const path = source.replace(/^\.\//, '').replace(/\/$/, '');
          expect(existsSync(join(ROOT, path)), `${source} exists`).toBe(true);
          expect(ignored(path), `${source} is left out by .dockerignore`).toBe(false);
          copied.push(path);
        }
      }
    }
    // What the gateway needs at run time beside the build: its version, kernels' helper, catalog.
    expect(copied).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'src',
        'kernels',
        'policies',
        'runbooks',
      ]),
    );
  });

  it('keeps local state, dependencies and secrets out of the build context', () => {
    for (const path of [
      '.git',
      '.env',
      'node_modules',
      'dist',
      '.cache',
      '.data',
      'targets.yaml',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
    expect(ignored('kernels/python/rungate/__pycache__/x.pyc')).toBe(true);
    expect(ignored('src/main.ts')).toBe(false);
  });

  it('builds with npm ci, nest build and the web app, and ships production dependencies only', () => {
    const build = stages.find((s) => all(s, 'RUN').some((r) => r.includes('nest build')));
    expect(build).toBeDefined();
    const runs = all(build as Stage, 'RUN').join('\n');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toContain('npm run build:web');
    const modules = all(runtime, 'COPY').find((c) => /\bnode_modules\b/.test(c));
    const from = copySources(modules ?? '').from;
    const deps = stages.find((s) => s.name === from);
    expect(all(deps as Stage, 'RUN').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(all(runtime, 'COPY').some((c) => c.startsWith(`--from=${build?.name} /src/dist`))).toBe(
      true,
    );
  });

  it('runs the gateway as a non-root user', () => {
    const users = all(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].split(':')[0];
    expect(['0', 'root', '']).not.toContain(user);
    expect(all(runtime, 'CMD').join(' ')).toContain('dist/main.js');
  });

  it('has Python with the kernel environment, bubblewrap and the launch tools', () => {
    const installs = lineage(runtime)
      .flatMap((s) => all(s, 'RUN'))
      .join('\n');
    for (const pkg of ['bubblewrap', 'python3', 'python3-venv', 'util-linux']) {
      expect(installs, pkg).toMatch(new RegExp(`apt-get install[^\\n]*\\s${pkg}(\\s|$)`));
    }
    const env = all(runtime, 'ENV').join(' ');
    const specDir = /RUNGATE_KERNELSPEC_DIRS=(\S+)/.exec(env)?.[1];
    expect(specDir).toBeDefined();
    const kernelEnv = stages.find((s) => all(s, 'RUN').some((r) => r.includes('requirements.txt')));
    const runs = all(kernelEnv as Stage, 'RUN').join('\n');
    expect(runs).toContain(`${specDir}/python3/kernel.json`);
    const python = /"argv": \["([^"]+)"/.exec(runs)?.[1];
    expect(python).toMatch(/^\/opt\/rungate\/venv\/bin\/python$/);
    expect(runs).toContain('python3 -m venv /opt/rungate/venv');
    expect(all(runtime, 'COPY')).toContain(`--from=${kernelEnv?.name} /opt/rungate /opt/rungate`);
  });

  it('checks health on /healthz and runs under an init that reaps processes', () => {
    const health = all(runtime, 'HEALTHCHECK').join(' ');
    expect(health).toContain('/healthz');
    expect(all(runtime, 'ENTRYPOINT').join(' ')).toContain('tini');
    expect(all(runtime, 'ENV').join(' ')).toContain('NODE_ENV=production');
  });
});
