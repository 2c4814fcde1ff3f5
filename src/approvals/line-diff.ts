/** One line of a diff. */
export interface DiffLine {
  readonly op: ' ' | '-' | '+';
  readonly text: string;
}

/** Above this many line pairs the LCS table would be too large; the diff replaces the whole text. */
const MAX_CELLS = 4_000_000;

/**
 * Line diff by longest common subsequence: the lines of `a` and `b` in order, each
 * kept, removed or added. Cell sources are short, so the quadratic table is fine;
 * beyond {@link MAX_CELLS} it degrades to "all removed, all added".
 */
export function diffLines(a: readonly string[], b: readonly string[]): DiffLine[] {
  // Common head and tail never need the table.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail++;
  }
  const out: DiffLine[] = a.slice(0, head).map((text) => ({ op: ' ', text }));
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  if (x.length * y.length > MAX_CELLS) {
    out.push(...x.map((text): DiffLine => ({ op: '-', text })));
    out.push(...y.map((text): DiffLine => ({ op: '+', text })));
  } else {
    out.push(...middle(x, y));
  }
  out.push(...a.slice(a.length - tail).map((text): DiffLine => ({ op: ' ', text })));
  return out;
}

function middle(x: readonly string[], y: readonly string[]): DiffLine[] {
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: length of the LCS of x[i..] and y[j..], flattened row-major.
  const lcs = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => i * (m + 1) + j;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[at(i, j)] =
        x[i] === y[j] ? lcs[at(i + 1, j + 1)] + 1 : Math.max(lcs[at(i + 1, j)], lcs[at(i, j + 1)]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i] });
      i++;
      j++;
    } else if (lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
      out.push({ op: '-', text: x[i++] });
    } else {
      out.push({ op: '+', text: y[j++] });
    }
  }
  while (i < n) out.push({ op: '-', text: x[i++] });
  while (j < m) out.push({ op: '+', text: y[j++] });
  return out;
}

/** Options of {@link unifiedDiff}. */
export interface UnifiedDiffOptions {
  /** Header names (`--- a`, `+++ b`). */
  readonly fromLabel: string;
  readonly toLabel: string;
  /** Unchanged lines shown around each change (default 3). */
  readonly context?: number;
}

/**
 * A unified diff of two texts (the format `diff -u` and `git diff` print), or the
 * empty string when they are equal.
 */
export function unifiedDiff(before: string, after: string, options: UnifiedDiffOptions): string {
  if (before === after) return '';
  const context = options.context ?? 3;
  const lines = diffLines(splitLines(before), splitLines(after));
  const changed = lines.map((l) => l.op !== ' ');
  const out = [`--- ${options.fromLabel}`, `+++ ${options.toLabel}`];
  let k = 0;
  while (k < lines.length) {
    if (!changed[k]) {
      k++;
      continue;
    }
    // A hunk runs from `context` lines before the first change to `context` after the
    // last one, merging changes whose context would touch.
    const start = Math.max(0, k - context);
    let end = k;
    let lastChange = k;
    while (end < lines.length && end <= lastChange + 2 * context) {
      if (changed[end]) lastChange = end;
      end++;
    }
    end = Math.min(lines.length, lastChange + context + 1);
    const hunk = lines.slice(start, end);
    const oldStart = 1 + lines.slice(0, start).filter((l) => l.op !== '+').length;
    const newStart = 1 + lines.slice(0, start).filter((l) => l.op !== '-').length;
    const oldCount = hunk.filter((l) => l.op !== '+').length;
    const newCount = hunk.filter((l) => l.op !== '-').length;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const l of hunk) out.push(`${l.op}${l.text}`);
    k = end;
  }
  return out.join('\n') + '\n';
}

/** `diff -u` writes an empty range as `start-1,0`. */
function range(start: number, count: number): string {
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  // A final newline ends the last line rather than starting an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
