import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../config/load-config';
import { checkSecretRef, describeSecretRef, readSecret } from './secret-ref';
import type {
  PostgresTargetDefinition,
  SecretRef,
  StaticTargetDefinition,
  TargetDefinition,
} from './targets.types';

/** What the targets file is checked against. */
export interface TargetsFileOptions {
  /** Prefix of minted roles: a configured role may not carry it, or a sweep would drop it. */
  readonly rolePrefix: string;
  /** Names taken by built-in targets (the demo target when enabled). */
  readonly reservedNames?: readonly string[];
  /** Where `{ env: VAR }` references are looked up; also used to check them now. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ENVIRONMENT = /^[a-z][a-z0-9-]{0,31}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COMMON_KEYS = ['name', 'environment', 'kind', 'description'];
const KEYS: Record<TargetDefinition['kind'], readonly string[]> = {
  postgres: [
    ...COMMON_KEYS,
    'adminUrl',
    'readRole',
    'writeRole',
    'connectionLimit',
    'kernelHost',
    'kernelPort',
  ],
  static: [...COMMON_KEYS, 'protocol', 'url', 'readOnly', 'elevated'],
};
const DEFAULT_CONNECTION_LIMIT = 5;

/** Reads and validates a targets file; throws {@link ConfigError} listing every problem. */
export function loadTargetsFile(path: string, options: TargetsFileOptions): TargetDefinition[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    ]);
  }
  return parseTargets(text, path, options);
}

/**
 * Validates the text of a targets file named `source` (relative `file:` references are
 * resolved against its folder). Secrets are accepted by reference only, and each
 * reference must yield a value now.
 */
export function parseTargets(
  text: string,
  source: string,
  options: TargetsFileOptions,
): TargetDefinition[] {
  const problems: string[] = [];
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The YAML parser's own messages quote the offending line, which may hold a secret: keep only its position.
    throw new ConfigError(
      doc.errors.map(
        (e) => `${source}: not valid YAML (${e.code} at line ${e.linePos?.[0].line ?? '?'})`,
      ),
    );
  }
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return [];
  if (!isMapping(root))
    throw new ConfigError([`${source}: must be a mapping with a "targets" list`]);
  for (const key of Object.keys(root)) {
    if (key !== 'targets')
      problems.push(`${source}: unknown top-level key "${key}" (expected "targets")`);
  }
  const list = root.targets ?? [];
  if (!Array.isArray(list)) {
    throw new ConfigError([...problems, `${source}: "targets" must be a list`]);
  }

  const out: TargetDefinition[] = [];
  const byName = new Map<string, string>();
  const baseDir = dirname(resolve(source));
  list.forEach((item: unknown, index) => {
    const reader = new EntryReader(
      item,
      `${source}: targets[${index}]`,
      problems,
      baseDir,
      options,
    );
    const def = reader.read();
    // Names are checked even for an entry with other problems, so every problem shows at once.
    const name = reader.name;
    if (name !== undefined) {
      if (options.reservedNames?.includes(name)) {
        problems.push(`${reader.where}: the name "${name}" is taken by a built-in target`);
      }
      const clash = byName.get(name);
      if (clash !== undefined)
        problems.push(`${reader.where}: the name "${name}" is already used by ${clash}`);
      else byName.set(name, reader.where);
    }
    if (def !== undefined) out.push(def);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

const POSTGRES_URL = {
  check: isPostgresUrl,
  expected: 'a URL postgresql://user:password@host:port/database',
};

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'postgresql:' || url.protocol === 'postgres:';
  } catch {
    return false;
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads one entry, recording each problem with its location; answers undefined when the entry is unusable. */
class EntryReader {
  /** The entry's location, with its name once known. */
  where: string;
  /** The entry's name, when valid. */
  name: string | undefined;
  private readonly entry: Record<string, unknown>;

  constructor(
    item: unknown,
    where: string,
    private readonly problems: string[],
    private readonly baseDir: string,
    private readonly options: TargetsFileOptions,
  ) {
    this.where = where;
    this.entry = isMapping(item) ? item : {};
    if (!isMapping(item)) problems.push(`${where}: must be a mapping`);
  }

  read(): TargetDefinition | undefined {
    const before = this.problems.length;
    const name = this.pattern(
      'name',
      NAME,
      'lowercase letters, digits and -, starting with a letter',
    );
    this.name = name;
    if (name !== undefined) this.where = `${this.where} (${name})`;
    const environment = this.pattern(
      'environment',
      ENVIRONMENT,
      'lowercase letters, digits and -, like prod or staging',
    );
    const kind = this.entry.kind;
    if (kind !== 'postgres' && kind !== 'static') {
      this.problems.push(`${this.where}.kind: must be postgres or static (got ${show(kind)})`);
      return undefined;
    }
    for (const key of Object.keys(this.entry)) {
      if (!KEYS[kind].includes(key)) {
        this.problems.push(
          `${this.where}: unknown setting "${key}" for kind ${kind} (known: ${KEYS[kind].join(', ')})`,
        );
      }
    }
    const base = { name: name ?? '', environment: environment ?? '', source: this.where };
    const def = kind === 'postgres' ? this.postgres(base) : this.static(base);
    return this.problems.length === before ? def : undefined;
  }

  private postgres(base: {
    name: string;
    environment: string;
    source: string;
  }): PostgresTargetDefinition {
    const readRole = this.role('readRole', this.options.rolePrefix, true);
    const writeRole = this.role('writeRole', this.options.rolePrefix, false);
    if (readRole !== undefined && readRole === writeRole) {
      this.problems.push(`${this.where}: readRole and writeRole must differ`);
    }
    return {
      ...base,
      kind: 'postgres',
      adminUrl: this.secret('adminUrl', true, POSTGRES_URL) ?? { env: '' },
      readRole: readRole ?? '',
      writeRole,
      connectionLimit: this.integer('connectionLimit', 1, 1000) ?? DEFAULT_CONNECTION_LIMIT,
      kernelHost: this.optionalString('kernelHost'),
      kernelPort: this.integer('kernelPort', 1, 65535),
    };
  }

  private static(base: {
    name: string;
    environment: string;
    source: string;
  }): StaticTargetDefinition {
    const protocol = this.entry.protocol ?? 'http';
    if (protocol !== 'http' && protocol !== 'postgres') {
      this.problems.push(
        `${this.where}.protocol: must be http or postgres (got ${show(protocol)})`,
      );
    }
    const url = this.optionalString('url');
    if (protocol === 'http') {
      if (url === undefined) this.problems.push(`${this.where}.url: required for protocol http`);
      else this.checkUrl(url);
    } else if (url !== undefined) {
      this.problems.push(
        `${this.where}.url: only for protocol http (a postgres value is a whole connection string)`,
      );
    }
    return {
      ...base,
      kind: 'static',
      protocol: protocol === 'postgres' ? 'postgres' : 'http',
      url,
      readOnly: this.secret('readOnly', true) ?? { env: '' },
      elevated: this.secret('elevated', false),
    };
  }

  private checkUrl(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      this.problems.push(`${this.where}.url: not a valid URL`);
      return;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      this.problems.push(`${this.where}.url: must be http:// or https://`);
    }
    if (parsed.username !== '' || parsed.password !== '') {
      this.problems.push(
        `${this.where}.url: must not carry credentials; give them as readOnly / elevated references`,
      );
    }
  }

  private secret(
    key: string,
    required: boolean,
    valid?: { check: (value: string) => boolean; expected: string },
  ): SecretRef | undefined {
    const value = this.entry[key];
    const at = `${this.where}.${key}`;
    if (value === undefined || value === null) {
      if (required) this.problems.push(`${at}: required ({ env: VARIABLE } or { file: /path })`);
      return undefined;
    }
    if (!isMapping(value)) {
      // Never echo the value: it is probably the secret itself.
      this.problems.push(
        `${at}: secrets are given by reference only — write { env: VARIABLE } or { file: /path }, never the value itself`,
      );
      return undefined;
    }
    const keys = Object.keys(value);
    if (keys.length !== 1 || (keys[0] !== 'env' && keys[0] !== 'file')) {
      this.problems.push(
        `${at}: must have exactly one of env or file (got ${keys.join(', ') || 'nothing'})`,
      );
      return undefined;
    }
    const ref = value[keys[0]];
    if (typeof ref !== 'string' || ref.trim() === '') {
      this.problems.push(`${at}.${keys[0]}: must be a non-empty string`);
      return undefined;
    }
    if (keys[0] === 'env' && !ENV_VAR.test(ref)) {
      this.problems.push(`${at}.env: must be an environment variable name (letters, digits, _)`);
      return undefined;
    }
    const secret: SecretRef =
      keys[0] === 'env' ? { env: ref } : { file: resolve(this.baseDir, ref) };
    // Checked now, so a missing variable or file stops the start-up rather than a session.
    const problem = checkSecretRef(secret, this.options.env);
    if (problem !== undefined) {
      this.problems.push(`${at}: ${problem}`);
    } else if (valid !== undefined && !valid.check(readSecret(secret, this.options.env))) {
      this.problems.push(`${at}: ${describeSecretRef(secret)} must hold ${valid.expected}`);
    }
    return secret;
  }

  private role(key: string, rolePrefix: string, required: boolean): string | undefined {
    const value = this.entry[key];
    const at = `${this.where}.${key}`;
    if (value === undefined || value === null) {
      if (required) this.problems.push(`${at}: required (an existing role of the target database)`);
      return undefined;
    }
    if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > 63) {
      this.problems.push(`${at}: must be a role name of 1 to 63 bytes`);
      return undefined;
    }
    if (value.startsWith(rolePrefix)) {
      this.problems.push(
        `${at}: "${value}" starts with the minted-role prefix "${rolePrefix}" (RUNGATE_TARGET_ROLE_PREFIX); rename it or change the prefix`,
      );
      return undefined;
    }
    return value;
  }

  private pattern(key: string, re: RegExp, expected: string): string | undefined {
    const value = this.entry[key];
    if (typeof value !== 'string' || !re.test(value)) {
      this.problems.push(`${this.where}.${key}: must be ${expected} (got ${show(value)})`);
      return undefined;
    }
    return value;
  }

  private optionalString(key: string): string | undefined {
    const value = this.entry[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      this.problems.push(`${this.where}.${key}: must be a non-empty string`);
      return undefined;
    }
    return value.trim();
  }

  private integer(key: string, min: number, max: number): number | undefined {
    const value = this.entry[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${this.where}.${key}: must be a whole number from ${min} to ${max}`);
      return undefined;
    }
    return value;
  }
}

/** A short rendering of a non-secret value for messages. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
