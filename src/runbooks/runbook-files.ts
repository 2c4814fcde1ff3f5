import { Injectable } from '@nestjs/common';
import { watch } from 'chokidar';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { isMystNotebook } from './myst';

/**
 * How a runbook file is written: nbformat JSON (`.ipynb`), or Jupytext's MyST Markdown
 * (`.md`), read into the same notebook JSON (see myst.ts).
 */
export type RunbookFormat = 'ipynb' | 'myst';

/** A notebook file as found on disk: its content, or why it could not be read. */
export type RunbookFile =
  | { id: string; path: string; format: RunbookFormat; content: string }
  | { id: string; path: string; error: string };

const EXTENSIONS: ReadonlyArray<readonly [string, RunbookFormat]> = [
  ['.ipynb', 'ipynb'],
  ['.md', 'myst'],
];

function formatOf(name: string): RunbookFormat | undefined {
  return EXTENSIONS.find(([ext]) => name.endsWith(ext))?.[1];
}

/** Stops a watch started by {@link RunbookFiles.watch}. */
export type StopWatching = () => Promise<void>;

function skipDir(name: string): boolean {
  // Jupyter's autosave copies and hidden folders are not runbooks.
  return name.startsWith('.') || name === '__pycache__' || name === 'node_modules';
}

/** A notebook's catalog id: its path under the catalog folder, without `.ipynb` or `.md`. */
function idOf(dir: string, path: string): string {
  const ext = EXTENSIONS.find(([e]) => path.endsWith(e))?.[0] ?? '';
  return relative(dir, path).slice(0, -ext.length).split(sep).join('/');
}

/** Two files for one id (`x.ipynb` and `x.md`): neither is served, both are named. */
function sameId(files: RunbookFile[]): RunbookFile {
  const names = files.map((f) => f.path).sort();
  return {
    id: files[0].id,
    path: names[0],
    error: `runbook ${files[0].id} is defined twice (${names.join(' and ')}): keep one format`,
  };
}

/** A symbolic link named like a notebook is listed as invalid, never followed. */
function linkRefused(dir: string, path: string): RunbookFile {
  return {
    id: idOf(dir, path),
    path,
    error: 'a symbolic link: the catalog reads only regular files inside its folder',
  };
}

/** The file-system side of the catalog: listing notebooks and watching for changes. */
@Injectable()
export class RunbookFiles {
  /**
   * Every `*.ipynb` and MyST `*.md` under `dir`, ids sorted; a missing dir is an empty
   * catalog. A `.md` file that is no notebook (a README) is not listed.
   */
  async scan(dir: string, maxBytes: number): Promise<RunbookFile[]> {
    const out: RunbookFile[] = [];
    const walk = async (folder: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const full = join(folder, entry.name);
        if (entry.isDirectory()) {
          if (!skipDir(entry.name)) await walk(full);
        } else if (!entry.name.startsWith('.')) {
          const format = formatOf(entry.name);
          if (format === undefined) continue;
          if (entry.isFile()) {
            const file = await this.read(dir, full, format, maxBytes);
            if ('content' in file && format === 'myst' && !isMystNotebook(file.content)) continue;
            out.push(file);
          }
          // A link could point anywhere on the host: the catalog is what its folder holds.
          else if (entry.isSymbolicLink()) out.push(linkRefused(dir, full));
        }
      }
    };
    await walk(dir);
    const byId = new Map<string, RunbookFile[]>();
    for (const f of out) byId.set(f.id, [...(byId.get(f.id) ?? []), f]);
    return [...byId.values()]
      .map((files) => (files.length === 1 ? files[0] : sameId(files)))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async read(
    dir: string,
    path: string,
    format: RunbookFormat,
    maxBytes: number,
  ): Promise<RunbookFile> {
    const id = idOf(dir, path);
    try {
      const info = await stat(path);
      if (info.size > maxBytes) {
        return {
          id,
          path,
          error: `file is ${info.size} bytes, over the limit of ${maxBytes} (RUNGATE_RUNBOOK_MAX_BYTES)`,
        };
      }
      const bytes = await readFile(path);
      if (bytes.length > maxBytes) {
        return {
          id,
          path,
          error: `file is ${bytes.length} bytes, over the limit of ${maxBytes} (RUNGATE_RUNBOOK_MAX_BYTES)`,
        };
      }
      return { id, path, format, content: bytes.toString('utf8') };
    } catch (err) {
      // Deleted between listing and reading: the next scan will not list it.
      return { id, path, error: `cannot read file: ${(err as Error).message}` };
    }
  }

  /** Calls `onChange` after any file or folder under `dir` is added, changed or removed. */
  async watch(
    dir: string,
    onChange: () => void,
    onError: (err: unknown) => void,
  ): Promise<StopWatching> {
    const watcher = watch(dir, {
      ignoreInitial: true,
      ignored: (path: string) =>
        relative(dir, path)
          .split(sep)
          .some((part) => part !== '' && skipDir(part)),
    });
    watcher.on('all', () => onChange());
    watcher.on('error', onError);
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    return () => watcher.close();
  }
}
