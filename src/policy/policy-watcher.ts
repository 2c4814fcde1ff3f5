import { basename } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';

/**
 * Calls `onChange` once a burst of file events in a folder has settled. Editors
 * and config-map mounts write through temporary files and renames, so several
 * events arrive per edit; the quiet period folds them into one reload.
 */
export class PolicyWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    /** File names that matter; edits to others (README.md, tests.csv) cause no reload. */
    private readonly files: readonly string[],
    private readonly onChange: () => void,
    private readonly onError: (err: unknown) => void,
    private readonly quietMs = 150,
  ) {}

  /** Resolves once the watcher is ready, so an edit made afterwards is seen. */
  async start(): Promise<void> {
    if (this.watcher) return;
    // Kubernetes config maps swap a `..data` symlink; following symlinks and
    // watching one level down sees those swaps as well as plain edits.
    const watcher = watch(this.dir, { ignoreInitial: true, depth: 1, followSymlinks: true });
    this.watcher = watcher;
    watcher.on('all', (_event, path) => {
      // `..data` is the symlink a Kubernetes config-map volume swaps on update.
      if (this.files.includes(basename(path)) || path.includes('..data')) this.schedule();
    });
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve);
      watcher.once('error', reject);
    });
    // After start-up a watch error must not crash the process: the last policy stays.
    watcher.on('error', (err) => this.onError(err));
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange();
    }, this.quietMs);
  }
}
