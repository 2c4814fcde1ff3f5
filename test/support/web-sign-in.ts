/*
 * A person signing in to the web app as a browser would, with fetch: GET /auth/login,
 * the development issuer's login and consent forms, back to /auth/callback, with one
 * cookie jar per origin. Redirects are followed by hand so each step can be asserted.
 */

/** Cookies of one origin, as a browser keeps them (name → value; an empty value deletes). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** The raw Set-Cookie lines of the last response stored. */
  lastSetCookie: string[] = [];

  store(res: Response): void {
    this.lastSetCookie = res.headers.getSetCookie();
    for (const line of this.lastSetCookie) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** A GET or form POST with the jar's cookies, redirects not followed. */
export async function browse(
  jar: CookieJar,
  url: string,
  form?: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const res = await fetch(url, {
    method: form ? 'POST' : 'GET',
    redirect: 'manual',
    headers: {
      accept: 'text/html',
      ...headers,
      cookie: jar.header(),
      ...(form && { 'content-type': 'application/x-www-form-urlencoded' }),
    },
    ...(form && { body: new URLSearchParams(form).toString() }),
  });
  jar.store(res);
  return res;
}

function hiddenFields(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form\b[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html.slice(0, 1000)}`);
  const fields: Record<string, string> = {};
  for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = /\sname="([^"]*)"/.exec(input[0])?.[1];
    const type = /\stype="([^"]*)"/.exec(input[0])?.[1];
    if (name !== undefined && type === 'hidden') {
      fields[name] = /\svalue="([^"]*)"/.exec(input[0])?.[1] ?? '';
    }
  }
  return { action: form[1].replace(/&amp;/g, '&'), fields };
}

/** Where a sign-in got to: the gateway's answer to the callback, and the jars. */
export interface WebSignIn {
  /** The gateway's jar: `rungate_session` once signed in. */
  readonly gateway: CookieJar;
  readonly issuer: CookieJar;
  /** The /auth/login answer. */
  readonly login: Response;
  /** The /auth/callback URL the issuer sent the browser to. */
  readonly callbackUrl: string;
  /** The /auth/callback answer. */
  readonly callback: Response;
}

/**
 * Signs `username` in through `gatewayUrl`'s /auth/login and the development issuer
 * (any password), consenting when asked. `query` is the login's query string.
 */
export async function signInThroughWeb(
  gatewayUrl: string,
  username: string,
  query: Record<string, string> = {},
  gateway = new CookieJar(),
): Promise<WebSignIn> {
  const issuer = new CookieJar();
  const login = await browse(gateway, `${gatewayUrl}/auth/login?${new URLSearchParams(query)}`);
  if (login.status !== 302) throw new Error(`/auth/login answered ${login.status}`);
  let url = new URL(login.headers.get('location') ?? '', gatewayUrl).href;
  for (let step = 0; step < 12 && !url.startsWith(`${gatewayUrl}/`); step++) {
    let res = await browse(issuer, url);
    if (res.status === 200) {
      const html = await res.text();
      const { action, fields } = hiddenFields(html);
      const target = new URL(action, url).href;
      res = await browse(
        issuer,
        target,
        fields.prompt === 'login' ? { ...fields, login: username, password: 'any' } : fields,
      );
      url = target;
    }
    if (res.status < 300 || res.status >= 400) {
      throw new Error(`the issuer answered ${res.status} at ${url}: ${await res.text()}`);
    }
    url = new URL(res.headers.get('location') ?? '', url).href;
  }
  const callback = await browse(gateway, url);
  return { gateway, issuer, login, callbackUrl: url, callback };
}
