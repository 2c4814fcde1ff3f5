import type { KoaContextWithOIDC } from 'oidc-provider';
import { DEMO_PEOPLE } from './demo-people';

/*
 * The development issuer's device-flow pages (RFC 8628 §3.3): enter the code the CLI
 * shows, confirm it, then the usual login page. Self-contained HTML (no fonts or
 * scripts from elsewhere: the issuer serves closed networks too), and plain forms so a
 * test can complete them with fetch.
 */

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; margin: 3rem auto; max-width: 26rem; padding: 0 1rem; color: #1b1f24; }
  h1 { font-weight: 500; font-size: 1.6rem; }
  input[type=text] { font: 1.4rem ui-monospace, monospace; letter-spacing: .15em; text-transform: uppercase; width: 100%; padding: .5rem; box-sizing: border-box; }
  button { margin-top: 1rem; font-size: 1rem; padding: .5rem 1.2rem; cursor: pointer; }
  code.user-code { font-size: 1.8rem; letter-spacing: .15em; }
  .error { color: #b3261e; }
  .hint { color: #57606a; font-size: .9rem; }
  @media (prefers-color-scheme: dark) { body { background: #0d1117; color: #e6edf3; } .hint { color: #8b949e; } }
`;

function page(ctx: KoaContextWithOIDC, title: string, body: string): void {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · rungate development issuer</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

const DEMO_HINT = `<p class="hint">Development issuer: sign in next as one of ${DEMO_PEOPLE.map((p) => escapeHtml(p.username)).join(', ')}, with any password.</p>`;

/** The code entry page; `err` is set when the code entered before was not accepted. */
function userCodeInputSource(
  ctx: KoaContextWithOIDC,
  form: string,
  _out: unknown,
  err: unknown,
): Promise<void> {
  const message =
    err === undefined || err === null
      ? '<p>Enter the code your terminal shows.</p>'
      : '<p class="error" role="alert">That code is not valid, was already used or has expired. Check your terminal and try again.</p>';
  page(
    ctx,
    'Sign in the rungate CLI',
    `${message}${form}<button type="submit" form="op.deviceInputForm">Continue</button>${DEMO_HINT}`,
  );
  return Promise.resolve();
}

/** Asks the person to check that the code is the one their terminal shows. */
function userCodeConfirmSource(
  ctx: KoaContextWithOIDC,
  form: string,
  client: { readonly clientId: string; readonly clientName?: string },
  _deviceInfo: unknown,
  userCode: string,
): Promise<void> {
  const who = escapeHtml(client.clientName ?? client.clientId);
  page(
    ctx,
    'Confirm the code',
    `<p><strong>${who}</strong> asks to act as you. Continue only if your terminal shows this code:</p>
<p><code class="user-code">${escapeHtml(userCode)}</code></p>${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`,
  );
  return Promise.resolve();
}

function successSource(ctx: KoaContextWithOIDC): Promise<void> {
  page(
    ctx,
    'Signed in',
    '<p>You are signed in. Go back to your terminal; you can close this page.</p>',
  );
  return Promise.resolve();
}

/** `features.deviceFlow` page renderers of oidc-provider. */
export const deviceFlowPages = { userCodeInputSource, userCodeConfirmSource, successSource };
