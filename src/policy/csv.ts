/** One meaningful line of a policy CSV file. */
export interface CsvRow {
  /** 1-based line number, for error messages. */
  readonly line: number;
  readonly fields: readonly string[];
}

/**
 * Splits the simple CSV our policy files use: comma-separated, fields trimmed,
 * blank lines and lines starting with `#` skipped. Quotes are refused rather than
 * interpreted, so this reader and Casbin's (which does interpret them) can never
 * disagree about what a line says.
 */
export function readCsv(text: string, file: string): { rows: CsvRow[]; problems: string[] } {
  const rows: CsvRow[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.includes('"')) {
      problems.push(`${file}:${i + 1}: quotes are not supported`);
      return;
    }
    rows.push({ line: i + 1, fields: trimmed.split(',').map((f) => f.trim()) });
  });
  return { rows, problems };
}
