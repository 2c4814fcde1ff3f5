/**
 * The one way this app talks to the gateway: same-origin fetch with the session cookie,
 * the CSRF header on every state-changing call, and RFC 9457 problem details turned
 * into {@link ApiError}s that carry the problem's `code`.
 */

/** An RFC 9457 problem document as the gateway writes it (with rungate's `code`). */
export interface Problem {
  status: number;
  title?: string;
  detail?: string;
  code?: string;
  [member: string]: unknown;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.name = 'ApiError';
  }
  get status(): number {
    return this.problem.status;
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

let csrfToken = '';

/** Set from `GET /auth/me`; sent as `X-CSRF-Token` on every non-GET request. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Where the browser is now, as a relative path the gateway accepts as `returnTo`. */
export function currentPath(): string {
  return location.pathname + location.search + location.hash;
}

/** Starts sign-in at the gateway; `maxAge` asks the issuer for a fresh login (step-up). */
export function signIn(returnTo = currentPath(), maxAge?: number): void {
  const q = new URLSearchParams({ returnTo });
  if (maxAge !== undefined) q.set('maxAge', String(maxAge));
  location.assign(`/auth/login?${q.toString()}`);
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

/** Calls the gateway and answers the JSON body; throws {@link ApiError} on a non-2xx answer. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError({
      status: 0,
      code: 'network',
      detail: 'The gateway did not answer. Check your connection and try again.',
    });
  }
  const text = await res.text();
  let body: unknown = null;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = { detail: text.slice(0, 500) };
    }
  }
  if (res.ok) return body as T;
  const problem: Problem = {
    ...(typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}),
    status: res.status,
  };
  if (res.status === 401 && problem.code === 'step_up_required') {
    // Approving, denying and breaking glass need a recent sign-in: the issuer asks again
    // and the person comes back to this page to decide.
    signIn(currentPath(), stepUpMaxAge(problem));
  }
  throw new ApiError(problem);
}

function stepUpMaxAge(p: Problem): number {
  const details = p.details as { maxAgeSeconds?: unknown } | undefined;
  const n = details?.maxAgeSeconds ?? p.maxAgeSeconds;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/** A message for people: the problem's detail, with what to do for the common codes. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    switch (err.status) {
      case 401:
        return err.code === 'step_up_required'
          ? 'This decision needs a recent sign-in; taking you to the sign-in page.'
          : 'Your sign-in has expired. Sign in again.';
      case 403:
        return err.message || 'You may not do this.';
      default:
        return err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** `encodeURIComponent` for each segment of a catalog id (`shop/stuck-jobs`). */
export function encodePath(id: string): string {
  return id.split('/').map(encodeURIComponent).join('/');
}
