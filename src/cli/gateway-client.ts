import { CredentialStore, gatewayKey, type GatewayCredentials } from './credentials';
import { CliError, ExitCode, notSignedIn } from './errors';
import { isExpired, reasonOf, refresh, type GatewayAuthConfig } from './signin';

/** An RFC 9457 problem document as the gateway sends it (`code` is rungate's stable code). */
export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly [extension: string]: unknown;
}

/** A request the gateway answered with a problem. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
    this.name = 'ApiError';
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string {
    return this.problem.code;
  }
}

/** One Server-Sent Event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface StreamEvent {
  readonly event: string;
  readonly data: unknown;
}

/**
 * The gateway's public HTTP API with the person's token: refreshed before it expires,
 * and stored again when the issuer hands out new ones.
 */
export class GatewayClient {
  private credentials: GatewayCredentials | undefined;

  constructor(
    readonly gateway: string,
    private readonly store: CredentialStore,
  ) {}

  /** Reads the tokens from the store again on the next request (after a new sign-in). */
  forgetCredentials(): void {
    this.credentials = undefined;
  }

  /** Where the person reaches a page of the web app served by this gateway. */
  pageUrl(path: string): string {
    return `${gatewayKey(this.gateway)}${path}`;
  }

  /** The issuer and client to sign in with (public: needs no token). */
  authConfig(): Promise<GatewayAuthConfig> {
    return this.call<GatewayAuthConfig>('GET', '/v1/auth/config', undefined, false);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body ?? {});
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** A document that is not JSON (a report, a notebook file), as the gateway sent it. */
  async download(path: string, accept: string): Promise<Buffer> {
    const res = await this.send('GET', path, undefined, true, { accept });
    if (!res.ok) throw new ApiError(await problemOf(res));
    return Buffer.from(await res.arrayBuffer());
  }

  /**
   * Reads a Server-Sent Events stream until it ends or `signal` aborts. Comments and
   * events without data (keep-alives) are skipped.
   */
  async *stream(path: string, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const res = await this.send('GET', path, undefined, true, {
      accept: 'text/event-stream',
      signal,
    });
    if (!res.ok) throw new ApiError(await problemOf(res));
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseEvent(block);
          if (event !== undefined) yield event;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const res = await this.send(method, path, body, auth);
    const text = await res.text();
    if (!res.ok) throw new ApiError(problemFrom(res.status, text));
    return (text === '' ? null : JSON.parse(text)) as T;
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    auth: boolean,
    extra: { accept?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {
      accept: extra.accept ?? 'application/json',
      'user-agent': 'rungate-cli',
    };
    if (auth) headers.authorization = `Bearer ${await this.accessToken()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${gatewayKey(this.gateway)}${path}`, {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(extra.signal && { signal: extra.signal }),
      });
    } catch (err) {
      if (extra.signal?.aborted) throw err;
      throw new CliError(
        `cannot reach the gateway at ${this.gateway} (${reasonOf(err)}); is it running? (--gateway or RUNGATE_URL)`,
        ExitCode.Failure,
        'gateway_unreachable',
        { cause: err },
      );
    }
  }

  private async accessToken(): Promise<string> {
    this.credentials ??= await this.store.get(this.gateway);
    if (this.credentials === undefined) {
      throw notSignedIn(this.gateway, `not signed in to ${this.gateway}`);
    }
    if (isExpired(this.credentials)) {
      this.credentials = await refresh(this.gateway, this.credentials);
      await this.store.put(this.gateway, this.credentials);
    }
    return this.credentials.accessToken;
  }
}

function parseEvent(block: string): StreamEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  const text = data.join('\n');
  try {
    return { event, data: JSON.parse(text) as unknown };
  } catch {
    return { event, data: text };
  }
}

async function problemOf(res: Response): Promise<Problem> {
  return problemFrom(res.status, await res.text());
}

function problemFrom(status: number, text: string): Problem {
  try {
    const parsed = JSON.parse(text) as Partial<Problem>;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.detail === 'string') {
      return { ...parsed, status, code: parsed.code ?? `http_${status}`, detail: parsed.detail };
    }
  } catch {
    // not a problem document: fall through
  }
  return { status, code: `http_${status}`, detail: `the gateway answered ${status}` };
}
