import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './gateway';

/** The alert rules and the dashboard the repository ships. */
export const RULES_FILE = join(ROOT, 'deploy/prometheus/rules.yml');
export const RULES_TEST_FILE = join(ROOT, 'deploy/prometheus/rules.test.yml');
export const DASHBOARD_FILE = join(ROOT, 'deploy/grafana/rungate.json');

/** A PromQL expression and where it came from. */
export interface Expression {
  readonly where: string;
  readonly expr: string;
  /** The series a recording rule defines. */
  readonly record?: string;
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

/** Every rule's expression in rules.yml. */
export function ruleExpressions(): Expression[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
  return file.groups.flatMap((g) =>
    g.rules.map((r) => ({
      where: `rules.yml ${g.name}/${r.record ?? r.alert ?? '?'}`,
      expr: String(r.expr),
      ...(r.record ? { record: r.record } : {}),
    })),
  );
}

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

/** Every query of the dashboard's panels (rows included) and of its template variables. */
export function dashboardExpressions(): Expression[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
    panels: Panel[];
    templating?: { list?: Array<{ name: string; query?: string | { query?: string } }> };
  };
  const out: Expression[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr) out.push({ where: `dashboard panel "${p.title ?? '?'}"`, expr: t.expr });
      }
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    // label_values(metric, label): the metric is the first argument.
    const m = q ? /label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(q) : null;
    if (m) out.push({ where: `dashboard variable ${v.name}`, expr: m[1] });
  }
  return out;
}
