/*
 * A person completing the OIDC device authorization grant (RFC 8628) in a "browser":
 * fetch with a cookie jar, following redirects and submitting the development
 * issuer's plain HTML forms (code entry, confirmation, login, consent).
 */

/** A form on a page: where it posts and its hidden fields. */
interface PageForm {
  readonly action: string;
  readonly fields: Record<string, string>;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decodeEntities(m[1]) : undefined;
}

/** The first form of `html` whose tag matches `marker` (e.g. an id), with its hidden inputs. */
function formOf(html: string, pageUrl: string, marker?: RegExp): PageForm | undefined {
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const tag = /<form\b[^>]*>/i.exec(m[0])?.[0] ?? '';
    if (marker !== undefined && !marker.test(m[0])) continue;
    const fields: Record<string, string> = {};
    for (const input of m[1].matchAll(/<input\b[^>]*>/gi)) {
      const name = attribute(input[0], 'name');
      if (name !== undefined && attribute(input[0], 'type') === 'hidden') {
        fields[name] = attribute(input[0], 'value') ?? '';
      }
    }
    return { action: new URL(attribute(tag, 'action') ?? pageUrl, pageUrl).href, fields };
  }
  return undefined;
}

/**
 * Opens `verificationUri`, enters `userCode`, confirms it, signs in as `username` (the
 * development issuer takes any password) and consents. Resolves when the issuer shows
 * its success page; fails with the page it got stuck on otherwise.
 */
export async function completeDeviceLogin(
  verificationUri: string,
  userCode: string,
  username: string,
): Promise<void> {
  const cookies = new Map<string, string>();
  const browse = async (url: string, form?: Record<string, string>): Promise<Response> => {
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form && { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(form && { body: new URLSearchParams(form).toString() }),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };

  let url = verificationUri;
  let res = await browse(url);
  for (let step = 0; step < 16; step++) {
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location') ?? '', url).href;
      res = await browse(url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`device login: ${url} answered ${res.status}: ${html}`);
    const input = formOf(html, url, /id="op\.deviceInputForm"/);
    const confirm = formOf(html, url, /id="op\.deviceConfirmForm"/);
    const other = formOf(html, url);
    const alert = /role="alert">([^<]*)</.exec(html);
    if (alert) throw new Error(`device login: the issuer says: ${alert[1]}`);
    if (input) {
      res = await browse(input.action, { ...input.fields, user_code: userCode });
    } else if (confirm) {
      res = await browse(confirm.action, confirm.fields);
    } else if (other?.fields.prompt === 'login') {
      res = await browse(other.action, { ...other.fields, login: username, password: 'any' });
    } else if (other?.fields.prompt === 'consent') {
      res = await browse(other.action, other.fields);
    } else if (/Signed in/.test(html)) {
      return;
    } else {
      throw new Error(`device login: no form to follow on ${url}:\n${html.slice(0, 2000)}`);
    }
  }
  throw new Error('device login: too many steps');
}
