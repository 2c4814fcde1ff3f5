import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { defaultLevels, isRuleId, RULE_IDS, type RuleLevels } from './rules';
import type { RuleLevel } from './lint.types';

/** The file that configures the linter, looked up from the linted folder upwards. */
export const LINT_CONFIG_FILE = '.rungate-lint.yaml';

/** What the linter is told: rule levels and secrets known to be harmless. */
export interface LintConfig {
  levels: RuleLevels;
  /** Regular expressions; a secret finding whose matched text matches one is dropped. */
  allowSecrets: readonly RegExp[];
  /** The file it came from; null for the defaults. */
  source: string | null;
}

/** A config file that cannot be used; `rungate lint` exits 2 with its message. */
export class LintConfigError extends Error {}

const LEVELS: readonly RuleLevel[] = ['error', 'warning', 'note', 'off'];

export function defaultLintConfig(): LintConfig {
  return { levels: defaultLevels(), allowSecrets: [], source: null };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a config file's text:
 *
 * ```yaml
 * rules:
 *   untagged-mutating: error   # error | warning | note | off
 * secrets:
 *   allow: ['^EXAMPLE']        # regular expressions for matches known to be harmless
 * ```
 */
export function parseLintConfig(text: string, source: string): LintConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new LintConfigError(`${source}: not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  doc ??= {};
  if (!isObject(doc)) throw new LintConfigError(`${source}: must be a mapping`);
  for (const key of Object.keys(doc)) {
    if (key !== 'rules' && key !== 'secrets')
      throw new LintConfigError(`${source}: unknown key "${key}" (rules, secrets)`);
  }
  const levels = defaultLevels();
  const rules = doc.rules ?? {};
  if (!isObject(rules)) throw new LintConfigError(`${source}: rules must be a mapping`);
  for (const [id, level] of Object.entries(rules)) {
    if (!isRuleId(id))
      throw new LintConfigError(`${source}: unknown rule "${id}" (rules: ${RULE_IDS.join(', ')})`);
    if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level))
      throw new LintConfigError(`${source}: rules.${id} must be one of ${LEVELS.join(', ')}`);
    levels[id] = level as RuleLevel;
  }
  const secrets = doc.secrets ?? {};
  if (!isObject(secrets)) throw new LintConfigError(`${source}: secrets must be a mapping`);
  const allow = secrets.allow ?? [];
  if (!Array.isArray(allow) || !allow.every((a): a is string => typeof a === 'string'))
    throw new LintConfigError(`${source}: secrets.allow must be a list of regular expressions`);
  const allowSecrets = allow.map((a) => {
    try {
      return new RegExp(a, 'u');
    } catch (err) {
      throw new LintConfigError(`${source}: secrets.allow: ${(err as Error).message}`);
    }
  });
  return { levels, allowSecrets, source };
}

export function loadLintConfig(file: string): LintConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LintConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseLintConfig(text, file);
}

/** The nearest `.rungate-lint.yaml` in `dir` or a folder above it, if any. */
export function findLintConfig(dir: string): string | null {
  let at = resolve(dir);
  for (;;) {
    const candidate = join(at, LINT_CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(at);
    if (up === at) return null;
    at = up;
  }
}
