/**
 * Replaces secrets in text before it is stored, streamed or logged.
 *
 * Two layers: the exact values the gateway itself handed out (a session's
 * credentials, matched wherever they appear), and generic patterns for
 * credentials a runbook may have obtained elsewhere (URL passwords, bearer
 * tokens, private keys, well-known token formats).
 */
import { countRedactions } from '../telemetry/metrics';

export const REDACTED = '[REDACTED]';

const GENERIC_PATTERNS: ReadonlyArray<{ re: RegExp; replace: string }> = [
  // scheme://user:password@host → keep the user, hide the password
  { re: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]+:)[^\s@/'"]+@/gi, replace: `$1${REDACTED}@` },
  // key=value / "key": "value" for password-like keys
  {
    re: /\b((?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi,
    replace: `$1${REDACTED}`,
  },
  { re: /\b(Bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/g, replace: `$1${REDACTED}` },
  {
    re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
    replace: REDACTED,
  },
  // AWS access key ids, GitHub and Slack tokens, JWTs
  { re: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, replace: REDACTED },
  { re: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, replace: REDACTED },
  { re: /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g, replace: REDACTED },
  { re: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}\b/g, replace: REDACTED },
];

/** Values shorter than this are not redacted by value: they would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6;

export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string> = []) {
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...new Set([...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
  }

  /** A redactor that also hides `more`. */
  with(more: Iterable<string>): Redactor {
    return new Redactor([...this.secrets, ...more]);
  }

  text(input: string): string {
    let out = input;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    for (const { re, replace } of GENERIC_PATTERNS) out = out.replace(re, replace);
    if (out !== input) countRedactions(input, out);
    return out;
  }

  /**
   * How many characters at the end of `text` could be the start of a known secret that
   * the next piece of a stream completes: the longest suffix that is a proper prefix of
   * one. A stream redacted piece by piece holds those back until it knows (see
   * OutputRecorder), or a secret printed in two writes would pass as two harmless halves.
   * Suffixes reaching into a `[REDACTED]` marker are not counted: what precedes the end
   * of a marker has been decided.
   */
  pendingPrefixLength(text: string): number {
    const markerEnd = text.lastIndexOf(REDACTED);
    const floor = markerEnd < 0 ? 0 : markerEnd + REDACTED.length;
    let longest = 0;
    for (const secret of this.secrets) {
      const max = Math.min(secret.length - 1, text.length - floor);
      for (let n = max; n > longest; n--) {
        if (text.endsWith(secret.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }

  /** Redacts every string inside a JSON-like value (keys are left alone). */
  value<T>(input: T): T {
    return this.walk(input) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.walk(x);
      return out;
    }
    return v;
  }
}
