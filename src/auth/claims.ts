import type { Principal } from './principal';

/** The claims of a verified token (a JWT payload or an introspection response). */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Reads a claim by name or dotted path (`realm_access.roles`). A claim whose own name
 * contains dots (`https://example.com/groups`, common with Auth0) wins over the path.
 */
export function claimAt(claims: Claims, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let current: unknown = claims;
  for (const segment of path.split('.')) {
    if (!isRecord(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

/**
 * Builds an object that holds `value` at the dotted `path`, the inverse of
 * {@link claimAt}; the development issuer uses it so its tokens follow the
 * configured groups claim.
 */
export function claimsWith(path: string, value: unknown): Record<string, unknown> {
  const segments = path.split('.');
  let out: unknown = value;
  for (let i = segments.length - 1; i >= 0; i--) out = { [segments[i]]: out };
  return out as Record<string, unknown>;
}

/**
 * Normalizes a groups claim: issuers send an array of strings, a single string, or a
 * space-separated string (like `scope`). Anything else yields no groups, never an error,
 * so an unexpected shape grants nothing.
 */
export function groupsFrom(value: unknown): string[] {
  const raw = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/\s+/) : [];
  const groups = raw.filter((g): g is string => typeof g === 'string' && g.length > 0);
  return [...new Set(groups)];
}

/** Maps verified claims onto a {@link Principal}; undefined when `sub` is missing. */
export function principalFromClaims(claims: Claims, groupsClaim: string): Principal | undefined {
  const sub = nonEmptyString(claims.sub);
  if (sub === undefined) return undefined;
  const email = nonEmptyString(claims.email);
  const tokenId = nonEmptyString(claims.jti);
  const clientId = nonEmptyString(claims.client_id) ?? nonEmptyString(claims.azp);
  const authTime = epochSeconds(claims.auth_time);
  return {
    sub,
    name:
      nonEmptyString(claims.preferred_username) ??
      nonEmptyString(claims.username) ??
      nonEmptyString(claims.name) ??
      sub,
    groups: groupsFrom(claimAt(claims, groupsClaim)),
    ...(email !== undefined && { email }),
    ...(tokenId !== undefined && { tokenId }),
    ...(clientId !== undefined && { clientId }),
    ...(authTime !== undefined && { authTime }),
  };
}

/** A NumericDate claim (RFC 7519 §2); anything else counts as absent. */
function epochSeconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
