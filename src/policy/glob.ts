/**
 * Glob patterns for runbook ids and environments.
 *
 * - `*` matches any run of characters except `/` (one path segment or part of one);
 * - `**` matches any run of characters including `/` (any depth, also nothing);
 * - `?` matches one character except `/`;
 * - every other character matches itself (no classes, no braces: ids are plain).
 *
 * So `shop/*` matches `shop/orders` but not `shop/a/b`; `db/**` matches `db/a` and
 * `db/a/b`; `**` matches every runbook; `*` every environment (environments have
 * no `/`) but only top-level runbook ids.
 */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        source += '.*';
        i++;
        // Further stars add nothing to `**`.
        while (pattern[i + 1] === '*') i++;
      } else {
        source += '[^/]*';
      }
    } else if (c === '?') {
      source += '[^/]';
    } else {
      source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 10_000;

/** Whether `value` matches glob `pattern` (see {@link globToRegExp}). */
export function globMatch(value: string, pattern: string): boolean {
  if (pattern === value) return true;
  let re = cache.get(pattern);
  if (re === undefined) {
    re = globToRegExp(pattern);
    // Patterns come from the policy files, so the set is small; the bound only
    // guards against a caller passing request data as a pattern.
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(pattern, re);
  }
  return re.test(value);
}

/** Problems with a pattern written in a policy file, or undefined when it is usable. */
export function checkPattern(pattern: string): string | undefined {
  if (pattern.length === 0) return 'empty pattern';
  if (/\s/.test(pattern)) return `pattern "${pattern}" contains white space`;
  return undefined;
}
