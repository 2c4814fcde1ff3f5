import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Paths the web app never answers: the API, sign-in, docs and probes keep their own 404s. */
const NOT_THE_APP = ['/v1', '/auth', '/docs', '/openapi.json', '/healthz', '/readyz', '/metrics'];

/** Hashed build output (`assets/index-3f2a1b.js`): its name changes when its content does. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** What the web app's responses are served with. */
export interface WebAppOptions {
  /** The built app: `index.html` and `assets/`. */
  readonly appDir: string;
  /** The issuer's origin, the one place besides ours a form may post to (sign-in pages). */
  readonly issuerOrigin: string;
}

/**
 * The security headers of the app's responses. Scripts only from our origin (kernel
 * HTML and SVG go into sandboxed frames, `blob:` or `data:`), nothing may frame the app,
 * no plugin, no `<base>` rewriting; forms go to us or the issuer only.
 */
export function securityHeaders(issuerOrigin: string): Record<string, string> {
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "frame-src 'self' blob: data:",
    "object-src 'none'",
    "base-uri 'none'",
    `form-action 'self' ${issuerOrigin}`,
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
  };
}

/** Whether a request path belongs to the app (not the API, sign-in, docs or probes). */
export function isAppPath(path: string): boolean {
  return !NOT_THE_APP.some(
    (p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`),
  );
}

/**
 * Serves the built web app at `/` (Express middleware, before Nest's routes): files of
 * `appDir` as they are (hashed assets cached for a year, the rest revalidated), and
 * `index.html`, never cached, for any other GET that wants HTML, so the app's own
 * routes (`/sessions/…`) survive a reload. Without a build, `/` says how to make one
 * instead of a bare 404.
 */
export function serveWebApp(options: WebAppOptions): RequestHandler {
  const headers = securityHeaders(options.issuerOrigin);
  const index = join(options.appDir, 'index.html');
  const files = express.static(options.appDir, {
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    fallthrough: true,
    setHeaders: (res, path) => {
      res.setHeader(
        'Cache-Control',
        path.startsWith(join(options.appDir, 'assets')) ? IMMUTABLE : 'no-cache',
      );
    },
  });

  return (req: Request, res: Response, next: NextFunction): void => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !isAppPath(req.path)) {
      next();
      return;
    }
    res.set(headers);
    const built = existsSync(index);
    const fallback = (): void => {
      if (req.path !== '/' && !wantsHtml(req)) {
        next();
        return;
      }
      if (!built) {
        res.status(200).set('Cache-Control', 'no-store').type('html').send(NOT_BUILT_PAGE);
        return;
      }
      res.set('Cache-Control', 'no-cache');
      res.sendFile(index, { dotfiles: 'deny' }, (err) => {
        if (err) next(err);
      });
    };
    if (!built || req.path === '/' || req.path === '/index.html') {
      fallback();
      return;
    }
    void files(req, res, fallback);
  };
}

/**
 * Whether a request asks for a page: it names text/html (a navigation does; a script,
 * image or fetch sends *\/* or its own type), and is not for a build asset, which must
 * 404 when missing rather than come back as HTML.
 */
function wantsHtml(req: Request): boolean {
  return !req.path.startsWith('/assets/') && /\btext\/html\b/i.test(req.get('accept') ?? '');
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>rungate: web app not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The rungate web app is not built</h1>
<p>The gateway is running, but it found no <code>dist/webapp/index.html</code> to serve.</p>
<p>Build it in the repository with <code>npm run build:web</code> (<code>npm start</code>
builds it when it is missing or out of date), then reload this page.</p>
<p>The API works meanwhile: <a href="/docs">/docs</a> describes it.</p>
</body>
</html>
`;
