/**
 * How a cell is treated by the gateway. `mutating` comes from the curator's tag and
 * needs an approval; `parameters` is the papermill-style defaults cell; every other
 * code cell is `read-only` (and runs with read-only credentials whatever it does).
 */
export type CellClass = 'read-only' | 'mutating' | 'parameters';

/** One cell of a runbook notebook, as the gateway sees it. */
export interface RunbookCell {
  /** nbformat 4.5 cell id: stable across edits, unique in the notebook. */
  id: string;
  /** 0-based position among all cells (markdown included). */
  index: number;
  type: 'code' | 'markdown' | 'raw';
  /** The cell source, joined into one string. */
  source: string;
  /** sha256 (hex) of `source` as UTF-8; what an approval is bound to. */
  sha256: string;
  tags: string[];
  /** null for markdown/raw cells, which never execute. */
  class: CellClass | null;
  /** Per-cell timeout from the cell's `metadata.rungate.timeout` (seconds), in ms; null = the session default. */
  timeoutMs: number | null;
}

/** The parameters a runbook accepts. */
export interface ParameterSpec {
  /** Id of the cell tagged `parameters`. */
  cellId: string;
  /** JSON Schema (draft 2020-12 subset understood by ajv) of the parameter object. */
  schema: Record<string, unknown>;
  /** Defaults read from the parameters cell. */
  defaults: Record<string, unknown>;
}

/** A runbook that passed validation. */
export interface Runbook {
  valid: true;
  /** Path under the runbooks dir without `.ipynb` or `.md`, with `/` separators: `shop/stuck-jobs`. */
  id: string;
  /** sha256 (hex) of {@link Runbook.content}. */
  version: string;
  /** Absolute path of the file it was read from (or a label for a re-parsed snapshot). */
  path: string;
  title: string;
  description: string;
  owner: string | null;
  /** Names of the production targets its cells talk to. */
  targets: string[];
  /** Environment it runs against (`prod`, `staging`); policy and quorum key on it. */
  environment: string;
  /** Kernelspec name. */
  kernel: string;
  cells: RunbookCell[];
  parameters: ParameterSpec | null;
  /** Linter findings that do not make the runbook invalid. */
  warnings: string[];
  /** The normalized notebook JSON (see `normalizeNotebook`); store it to re-parse this exact version. */
  content: string;
  /**
   * With a Git catalog: the commit that last changed the runbook's file in the history
   * of the commit the catalog read (the same on every replica). A later commit that
   * leaves the normalized content as it was keeps the version and this commit.
   */
  commit?: string;
}

/** A runbook version as the catalog names it in a change. */
export interface CatalogVersionRef {
  readonly id: string;
  readonly version: string;
  readonly commit?: string;
}

/** What one reload of the catalog changed; runnable (valid) versions only. */
export interface CatalogUpdate {
  /** The commit now served, with a Git catalog. */
  readonly commit?: string;
  /** The commit served before, when there was one. */
  readonly previousCommit?: string;
  readonly added: readonly CatalogVersionRef[];
  readonly changed: ReadonlyArray<CatalogVersionRef & { readonly previous: string }>;
  /** Runbooks no longer runnable: gone, or now invalid (see `invalid`). */
  readonly removed: readonly CatalogVersionRef[];
  /** Ids listed but invalid after this change, with the reason. */
  readonly invalid: ReadonlyArray<{ readonly id: string; readonly reason: string }>;
}

/** A notebook in the runbooks dir that cannot be run, and why. */
export interface InvalidRunbook {
  valid: false;
  id: string;
  path: string;
  reason: string;
}

/** Options of {@link parseNotebook}. */
export interface ParseOptions {
  /** Kernelspec for notebooks without `metadata.kernelspec.name`. */
  defaultKernel: string;
  /** File path to report; defaults to the id. */
  path?: string;
}
