/** A secret found in a text: what kind, where (0-based offset) and how long. */
export interface SecretMatch {
  kind: string;
  offset: number;
  length: number;
  /** The matched text, for allow-lists; never printed whole. */
  text: string;
}

/** Known key formats (gitleaks' and detect-secrets' usual suspects). */
const KNOWN: ReadonlyArray<{ kind: string; pattern: RegExp; group?: number }> = [
  { kind: 'AWS access key id', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g },
  {
    kind: 'AWS secret access key',
    pattern: /aws_?secret_?access_?key['"]?\s*[:=]\s*['"]?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
    group: 1,
  },
  {
    kind: 'GitHub token',
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g,
  },
  { kind: 'GitLab token', pattern: /\bglpat-[A-Za-z0-9_-]{20,}\b/g },
  { kind: 'Slack token', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g },
  {
    kind: 'Slack webhook',
    pattern:
      /https:\/\/hooks\.slack\.com\/services\/T[A-Za-z0-9_]+\/B[A-Za-z0-9_]+\/[A-Za-z0-9_]+/g,
  },
  { kind: 'Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'Stripe key', pattern: /\b(?:sk|rk)_live_[0-9a-zA-Z]{24,}\b/g },
  { kind: 'npm token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  {
    kind: 'private key',
    pattern: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----/g,
  },
  { kind: 'JWT', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
];

/** `scheme://user:password@host`: a URL carrying a password. */
const URL_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]+:([^\s@'"/]+)@[^\s'"]+/gi;
/** libpq keyword form: `host=db user=x password=y`. */
const DSN_PASSWORD = /\b(?:host|hostaddr|dbname|user|port)=\S+[^'"\n]*?\bpassword=([^\s'"]+)/gi;
/** A value that only stands for a password: `{pw}`, `$PASSWORD`, `<password>`, `***`, `%s`. */
const PLACEHOLDER =
  /^(?:\{.*\}|\$\{?\w+\}?|<[^>]*>|\*+|x+|%s|%\(\w+\)s|\.\.\.|password|passwd|secret|changeme)$/i;

/** Quoted string literals of code (Python's quotes), for the entropy check. */
const QUOTED = /(['"])((?:(?!\1)[^\\\n]|\\.){20,})\1/g;
const TOKEN = /[A-Za-z0-9+/=_-]{20,}/g;

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A random-looking token: long, of base64 or hex letters, with high Shannon entropy
 * (the thresholds of detect-secrets: 4.5 bits a character for base64, 3.0 for hex),
 * and mixing letter cases and digits, which words, paths and identifiers rarely do.
 */
function looksRandom(token: string): boolean {
  if (/^[0-9a-f]+$/i.test(token))
    return token.length >= 32 && entropy(token) > 3.0 && /\d/.test(token) && /[a-f]/i.test(token);
  const classes = [/[a-z]/, /[A-Z]/, /\d/].filter((r) => r.test(token)).length;
  return classes === 3 && entropy(token) > 4.5;
}

/** Secrets in one text. `code` turns on the high-entropy check of quoted strings. */
export function findSecrets(text: string, code: boolean): SecretMatch[] {
  const out: SecretMatch[] = [];
  const taken: Array<[number, number]> = [];
  const add = (kind: string, offset: number, value: string): void => {
    if (taken.some(([a, b]) => offset < b && offset + value.length > a)) return;
    taken.push([offset, offset + value.length]);
    out.push({ kind, offset, length: value.length, text: value });
  };
  for (const { kind, pattern, group } of KNOWN) {
    for (const m of text.matchAll(pattern)) {
      const value = group ? m[group] : m[0];
      add(kind, (m.index ?? 0) + m[0].indexOf(value), value);
    }
  }
  for (const re of [URL_PASSWORD, DSN_PASSWORD]) {
    for (const m of text.matchAll(re)) {
      const pw = m[1];
      if (PLACEHOLDER.test(pw)) continue;
      add('connection string with a password', (m.index ?? 0) + m[0].indexOf(pw), pw);
    }
  }
  if (code) {
    for (const q of text.matchAll(QUOTED)) {
      const inner = q[2];
      const base = (q.index ?? 0) + 1;
      for (const t of inner.matchAll(TOKEN)) {
        if (looksRandom(t[0])) add('high-entropy string', base + (t.index ?? 0), t[0]);
      }
    }
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** `AKIA…MPLE`: enough to find it, not enough to use it. */
export function mask(secret: string): string {
  return secret.length <= 8 ? '…' : `${secret.slice(0, 4)}…${secret.slice(-2)}`;
}
