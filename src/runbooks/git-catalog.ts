import { Inject, Injectable } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig, RunbooksGitConfig } from '../config/config.types';

/** A commit of the followed ref, checked out where the catalog reads it. */
export interface GitCatalogTree {
  /** Full commit id (40 or 64 hex). */
  readonly commit: string;
  /** The folder holding the runbooks of that commit (the configured subdir of its tree). */
  readonly dir: string;
}

/** Why the Git source could not give a tree: the catalog keeps what it has. */
export class GitCatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitCatalogError';
  }
}

/** Longest a single git command may take (a fetch over the network included). */
const GIT_TIMEOUT_MS = 120_000;

/**
 * The Git side of the catalog, through the `git` CLI: a bare clone under the data dir
 * (`runbooks-git/repo.git`), fetched from the configured URL; the tree of the ref's
 * commit written out with `read-tree` + `checkout-index` (plumbing, no work tree state)
 * into `runbooks-git/trees/<commit>`, which the catalog scans like its folder.
 */
@Injectable()
export class GitCatalogSource {
  private readonly root: string;
  private readonly gitDir: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.root = join(config.dataDir, 'runbooks-git');
    this.gitDir = join(this.root, 'repo.git');
  }

  private get git(): RunbooksGitConfig {
    const git = this.config.runbooks.git;
    if (!git) throw new Error('the catalog follows no Git repository');
    return git;
  }

  /** Fetches the ref and answers its commit, verified when allowed signers are configured. */
  async fetch(): Promise<string> {
    const { url, ref, allowedSigners } = this.git;
    await mkdir(this.root, { recursive: true });
    if (!(await exists(join(this.gitDir, 'HEAD')))) {
      await this.run(['init', '--quiet', '--bare', this.gitDir], { bare: false });
    }
    await this.run(['fetch', '--quiet', '--no-tags', '--end-of-options', url, ref]);
    const commit = (await this.run(['rev-parse', '--verify', 'FETCH_HEAD^{commit}'])).trim();
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) {
      throw new GitCatalogError(`git answered no commit for ${ref}`);
    }
    if (allowedSigners !== undefined) {
      try {
        await this.run([
          '-c',
          `gpg.ssh.allowedSignersFile=${allowedSigners}`,
          'verify-commit',
          commit,
        ]);
      } catch (err) {
        throw new GitCatalogError(
          `commit ${commit} of ${ref} is not signed by an allowed signer (RUNGATE_RUNBOOKS_GIT_ALLOWED_SIGNERS): ${(err as Error).message}`,
        );
      }
    }
    return commit;
  }

  /** The runbooks folder of `commit`, written out once per commit. */
  async tree(commit: string): Promise<GitCatalogTree> {
    const trees = join(this.root, 'trees');
    const target = join(trees, commit);
    const dir = this.git.subdir === '' ? target : join(target, ...this.git.subdir.split('/'));
    if (await exists(target)) return { commit, dir };
    await mkdir(trees, { recursive: true });
    const tmp = join(trees, `.${commit}.${process.pid}.tmp`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    const index = join(this.root, `index.${process.pid}`);
    try {
      // A private index and the temp folder as work tree: nothing of the clone's own state moves.
      const env = { GIT_INDEX_FILE: index };
      await this.run(['--work-tree', tmp, 'read-tree', commit], { env });
      await this.run(['--work-tree', tmp, 'checkout-index', '--all'], { env });
      await rename(tmp, target);
    } finally {
      await rm(index, { force: true });
      await rm(tmp, { recursive: true, force: true });
    }
    return { commit, dir };
  }

  /**
   * The commit that last changed `path` (relative to the repository) in the history of
   * `commit`: what a runbook version records, the same on every replica and restart.
   */
  async lastChange(commit: string, path: string): Promise<string> {
    const found = (
      await this.run(['log', '-1', '--format=%H', commit, '--', `:(literal)${path}`])
    ).trim();
    return found === '' ? commit : found;
  }

  /** Removes the written-out trees of every commit but `keep`. */
  async prune(keep: string): Promise<void> {
    const trees = join(this.root, 'trees');
    let names: string[];
    try {
      names = await readdir(trees);
    } catch {
      return;
    }
    for (const name of names) {
      if (name !== keep) await rm(join(trees, name), { recursive: true, force: true });
    }
  }

  private run(
    args: string[],
    options: { bare?: boolean; env?: Record<string, string> } = {},
  ): Promise<string> {
    const full = options.bare === false ? args : ['--git-dir', this.gitDir, ...args];
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        full,
        {
          timeout: GIT_TIMEOUT_MS,
          maxBuffer: 16 * 1024 * 1024,
          // Never prompt for credentials on a terminal the gateway does not have.
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...options.env },
        },
        (err, stdout, stderr) => {
          if (err) {
            const why = stderr.trim().split('\n').slice(-3).join('; ') || err.message;
            const command = args.find((a) => /^[a-z][a-z-]*$/.test(a)) ?? 'command';
            reject(new GitCatalogError(`git ${command} failed: ${redactUrl(why)}`));
          } else resolve(stdout);
        },
      );
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A URL's password or token never reaches a log line. */
function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');
}
