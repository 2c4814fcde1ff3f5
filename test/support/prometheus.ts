/**
 * Reading Prometheus for tests: the text exposition format a scrape answers, and the
 * metric names a PromQL expression (of a rule file or a dashboard) refers to.
 */

/** One sample of a scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed scrape: its samples and the metric families it declared (`# TYPE`). */
export class Scrape {
  constructor(
    readonly samples: readonly Sample[],
    /** Family name → type (counter, gauge, histogram, summary). */
    readonly families: ReadonlyMap<string, string>,
  ) {}

  static parse(text: string): Scrape {
    const samples: Sample[] = [];
    const families = new Map<string, string>();
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) families.set(type[1], type[2]);
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2];
      }
      samples.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return new Scrape(samples, families);
  }

  /** Samples of `name` whose labels include `labels`. */
  select(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  }

  /** The sum of the selected samples; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const found = this.select(name, labels);
    return found.length === 0 ? undefined : found.reduce((n, s) => n + s.value, 0);
  }
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/**
 * Whether `name` is one of `exported` (metric family names with their types): a
 * family itself, or a histogram's (summary's) `_bucket`, `_sum` or `_count`.
 */
export function isExported(name: string, exported: ReadonlyMap<string, string>): boolean {
  if (exported.has(name)) return true;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const type = exported.get(name.slice(0, -suffix.length));
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return true;
  }
  return false;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
  'atan2',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are neither
 * functions (followed by `(`), keywords, label names (inside `{}` or the lists of
 * `by`, `on` …), durations, numbers nor Grafana variables (`$__rate_interval`).
 */
export function metricNamesOf(expr: string): Set<string> {
  let e = expr
    // Strings first: they may hold anything, braces included.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  // Label lists of aggregations and vector matching.
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = e[(m.index ?? 0) - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // a number's exponent or a duration's unit
    const after = e.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return names;
}
