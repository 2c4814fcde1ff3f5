import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
} from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { listen } from '../support/net';
import { notebook, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';

/**
 * The web app in a real browser (Debian's Chromium driven by playwright-core) against a
 * started gateway: sign-in through the development issuer's login page, a sample runbook
 * with a plot, an approval by two other people in their own browsers, the audit chain;
 * and kernel output that tries to run script in the app's origin.
 */

const CHROMIUM = process.env.RUNGATE_CHROMIUM ?? '/usr/bin/chromium';
// A closed network: nothing for the browser to phone home to, no GPU, no sandbox (root in CI).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const SHOTS = join(ROOT, '.cache', 'screenshots');
const WAIT = 60_000;
/** How recent a sign-in must be to decide (the gateway's step-up window), short to test it. */
const STEP_UP_SECONDS = 8;
/** Four people, a dozen kernel runs: more than the e2e default on a busy machine. */
const JOURNEY_TIMEOUT = 240_000;

type Person = 'alice' | 'bob' | 'dave' | 'carol';

/** The members of an <img> the tests read (the test code compiles without the DOM library). */
interface LoadedImage {
  complete: boolean;
  naturalWidth: number;
}

// Browser-side code as text: it runs in the page, not in Node.
/** Resolves after the next frame and one task: what was queued to run has run. */
const SETTLE = 'new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))';
/** What script in the app's origin would have left behind. */
const APP_STATE = `({
  pwned: window.__pwned ?? null,
  inlineScripts: [...document.scripts].filter((s) => !s.src).length,
  handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
  jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
  inlineSvg: document.querySelectorAll('.outputs svg').length,
  frameSandboxes: [...document.querySelectorAll('iframe')].map((f) => f.getAttribute('sandbox')),
})`;
/** Form controls and buttons a screen reader could not name. */
const UNLABELLED = `[...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))`;
interface AppState {
  pwned: unknown;
  inlineScripts: number;
  handlers: number;
  jsLinks: number;
  inlineSvg: number;
  frameSandboxes: Array<string | null>;
}

/** Everything a hostile kernel can put in front of the app; MARK is replaced by the marker URL. */
function hostileRunbook(mark: string): string {
  const js = (tag: string) =>
    `parent.__pwned='${tag}';top.__pwned='${tag}';fetch('${mark}?${tag}')`;
  const html =
    `<script>${js('html-script')}</script>` +
    `<img src="x" onerror="${js('html-onerror')}">` +
    `<a id="jslink" href="javascript:${js('html-link')}">click me</a>` +
    `<form action="${mark}?html-form"><button id="formbtn">send</button></form>` +
    '<table><tr><th>kept</th></tr><tr><td>a table still shows</td></tr></table>';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" onload="${js('svg-onload')}">` +
    `<script>${js('svg-script')}</script><rect width="40" height="20" fill="teal"/></svg>`;
  const md = `<img src="x" onerror="${js('md-onerror')}"> [md link](javascript:${js('md-link')})`;
  return notebook({
    title: 'Hostile outputs (test)',
    cells: [
      {
        id: 'intro',
        type: 'markdown',
        source: `# Hostile\n\n<img src="x" onerror="${js('runbook-md')}"> <script>${js('runbook-script')}</script> [link](javascript:${js('runbook-link')})`,
      },
      {
        id: 'hostile',
        source: [
          'from IPython.display import HTML, SVG, Markdown, display',
          `display(HTML(${JSON.stringify(html)}))`,
          `display(SVG(${JSON.stringify(svg)}))`,
          `display(Markdown(${JSON.stringify(md)}))`,
          `print(${JSON.stringify(`<img src=x onerror="${js('stream')}">`)})`,
          `display({"text/plain": ${JSON.stringify(`<script>${js('plain')}</script>`)}}, raw=True)`,
          `raise ValueError(${JSON.stringify(`<img src=x onerror="${js('traceback')}">`)})`,
        ].join('\n'),
      },
    ],
  });
}

/** A change that needs the step before it (staging: one approver). */
const ORDERED = notebook({
  title: 'Ordered change (test)',
  cells: [
    { id: 'look', source: 'state = "looked"\nprint(state)' },
    { id: 'fix', source: 'print("fixed after", state)', tags: ['mutating'] },
  ],
});

describe('web app in a browser', () => {
  let gw: Gateway;
  let runbooks: string;
  let browser: Browser;
  let marker: Server;
  let markerUrl: string;
  const markerHits: string[] = [];
  const contexts: BrowserContext[] = [];
  /** Uncaught errors in any page: the app has none. */
  const pageErrors: string[] = [];

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} (scripts/install-system-deps.sh installs it)`).toBe(
      true,
    );
    expect(
      existsSync(join(ROOT, 'dist', 'webapp', 'index.html')),
      'the web app is built (scripts/bootstrap.sh)',
    ).toBe(true);
    marker = createServer((req, res) => {
      markerHits.push(req.url ?? '');
      res.setHeader('access-control-allow-origin', '*');
      res.end('hit');
    });
    markerUrl = `http://127.0.0.1:${await listen(marker, '127.0.0.1')}/mark`;
    runbooks = runbooksDir({ 'test/hostile': hostileRunbook(markerUrl), 'test/ordered': ORDERED });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_web'),
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_STEP_UP_MAX_AGE_SECONDS: String(STEP_UP_SECONDS),
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await gw?.stop();
    marker?.close();
    if (runbooks) rmSync(runbooks, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(pageErrors.splice(0)).toEqual([]);
  });

  /** A fresh browser profile (cookies of its own) that reaches only this machine. */
  async function newPage(bypassCSP = false): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP });
    contexts.push(context);
    // The issuer's stock login page links a web font; on a closed network it must fail
    // at once instead of waiting for DNS.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      return url.hostname === '127.0.0.1' || url.protocol === 'data:'
        ? route.continue()
        : route.abort();
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('dialog', (d) => void d.dismiss());
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    return page;
  }

  /** Completes the issuer's login (and consent) pages until the browser is back at the app. */
  async function completeIssuerLogin(page: Page, who: Person): Promise<void> {
    const deadline = Date.now() + WAIT;
    while (!page.url().startsWith(gw.url)) {
      if (Date.now() > deadline)
        throw new Error(`sign-in did not return to the app: ${page.url()}`);
      const login = page.locator('input[name=login]');
      const submit = page.locator('button[type=submit]').first();
      await submit.waitFor();
      if (await login.count()) {
        await login.fill(who);
        await page.locator('input[name=password]').fill(who);
      }
      const from = page.url();
      await Promise.all([page.waitForURL((u) => u.href !== from), submit.click()]);
    }
    await page.waitForURL(`${gw.url}/**`);
  }

  /** Opens `path` as `who`: the app's sign-in screen, the issuer's login page, back to `path`. */
  async function signIn(
    who: Person,
    path: string,
    opts: { shot?: string; bypassCSP?: boolean } = {},
  ): Promise<Page> {
    const { shot } = opts;
    const page = await newPage(opts.bypassCSP);
    await page.goto(`${gw.url}${path}`);
    const button = page.getByRole('button', { name: 'Sign in' });
    await button.waitFor();
    if (shot) await screenshot(page, shot);
    await button.click();
    await page.waitForURL(/\/dev-oidc\//);
    if (shot) await screenshot(page, 'issuer-login');
    await completeIssuerLogin(page, who);
    expect(new URL(page.url()).pathname).toBe(path.split('?')[0]);
    await page.getByTestId('me').waitFor();
    return page;
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `web-${name}.png`), fullPage: true });
  }

  const cell = (page: Page, id: string): Locator => page.locator(`li[data-cell="${id}"]`);
  /** Waits (to the deadline) until `probe` answers what the matcher expects. */
  const poll = <T>(probe: () => Promise<T>) => expect.poll(probe, { timeout: WAIT, interval: 100 });
  const text = (l: Locator) => () => l.innerText();

  /** Clicks a decision button; if the gateway asks for a fresh sign-in (step-up), signs in again and repeats. */
  async function decide(page: Page, who: Person, button: 'Approve' | 'Deny', comment: string) {
    const before = page.url();
    await page.getByLabel(/^Comment/).fill(comment);
    await page.getByRole('button', { name: button, exact: true }).click();
    const decided = page.getByTestId('decided');
    const outcome = await Promise.race([
      decided.waitFor().then(() => 'decided' as const),
      page.waitForURL(/\/dev-oidc\//).then(() => 'step-up' as const),
    ]);
    if (outcome === 'step-up') {
      await completeIssuerLogin(page, who);
      expect(page.url()).toBe(before);
      await page.getByLabel(/^Comment/).fill(comment);
      await page.getByRole('button', { name: button, exact: true }).click();
      await decided.waitFor();
    }
  }

  it(
    'alice runs a sample runbook with a plot, bob and dave approve its change, carol verifies the chain',
    async () => {
      // alice: sign in through the issuer, find the runbook, start a session.
      const alice = await signIn('alice', '/', { shot: 'signin' });
      await alice.getByRole('link', { name: 'Checkout errors are elevated' }).waitFor();
      await alice.getByLabel('Search runbooks').fill('checkout');
      await poll(() => alice.locator('ul.cards > li').count()).toBe(1);
      await screenshot(alice, 'catalog');
      await alice.getByRole('link', { name: 'Checkout errors are elevated' }).click();
      await alice.getByLabel('Reason').fill('CheckoutErrorRateHigh fired (browser test)');
      await alice.getByLabel('Incident (optional)').fill('INC-4711');
      expect(await alice.getByLabel('lookback_minutes').inputValue()).toBe('30');
      await screenshot(alice, 'start-session');
      expect(await alice.evaluate(UNLABELLED)).toEqual([]);
      await alice.getByRole('button', { name: 'Start session' }).click();
      await alice.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
      const sessionId = alice.url().split('/').pop() as string;

      // The read-only cells run; the plot is an image that loaded.
      await alice.getByRole('button', { name: 'Run read-only cells' }).click();
      await alice.getByText(/stopped before enable-fallback/).waitFor();
      const plot = cell(alice, 'error-rate-plot').locator('img.output.image');
      await plot.waitFor();
      await poll(() =>
        plot.evaluate((img: LoadedImage) => (img.complete ? img.naturalWidth : 0)),
      ).toBeGreaterThan(100);
      await cell(alice, 'flags').locator('[data-status=ok]').waitFor();
      for (const id of ['setup', 'error-rates', 'onset', 'payment-latency', 'recent-errors']) {
        expect(await cell(alice, id).locator('.status').getAttribute('data-status')).toBe('ok');
      }
      // A rungate.table output is HTML in a sandboxed frame.
      expect(await cell(alice, 'setup').locator('iframe').getAttribute('sandbox')).toBe('');

      // The mutating cell: no run button, a request form instead.
      const change = cell(alice, 'enable-fallback');
      expect(await change.getByRole('button', { name: /^Run/ }).count()).toBe(0);
      await change
        .getByLabel('Why is this change needed?')
        .fill('payfast times out; use cardstream');
      expect(await change.getByLabel('Incident (optional)').inputValue()).toBe('INC-4711');
      await change.getByRole('button', { name: 'Request approval' }).click();
      await change.getByText(/Waiting for approval: 0 of 2/).waitFor();
      await screenshot(alice, 'session');
      expect(await alice.evaluate(UNLABELLED)).toEqual([]);

      // The run record, with the session cookie: the report opens as a page of its own.
      const sessionPath = new URL(alice.url()).pathname.replace(/^\/sessions\//, '/v1/sessions/');
      const reportLink = alice.getByRole('link', { name: 'Report' });
      expect(await reportLink.getAttribute('href')).toBe(`${sessionPath}/report`);
      const report = await alice.request.get(`${gw.url}${sessionPath}/report`);
      expect(report.status()).toBe(200);
      expect(report.headers()['content-type']).toMatch(/^text\/html/);
      expect(await report.text()).toContain('enable-fallback');
      const exported = alice.getByRole('link', { name: 'Export notebook' });
      expect(await exported.getAttribute('href')).toBe(`${sessionPath}/notebook`);

      // bob and dave, each in a browser of their own, find it in the inbox and approve.
      const bob = await signIn('bob', '/approvals');
      const item = bob.getByRole('link', { name: /shop\/checkout-errors · enable-fallback/ });
      await item.waitFor();
      await screenshot(bob, 'approvals-inbox');
      await item.click();
      await bob.waitForURL(/\/approvals\/[^/]+$/);
      const approvalPath = new URL(bob.url()).pathname;
      await bob.getByText('payfast times out; use cardstream', { exact: true }).waitFor();
      expect(await bob.locator('pre.code').innerText()).toContain('payfast-fallback-to-cardstream');
      await bob.getByRole('heading', { name: 'What the session ran so far' }).waitFor();
      expect(await bob.locator('ol.prior > li').count()).toBeGreaterThan(5);
      await screenshot(bob, 'approval');
      expect(await bob.evaluate(UNLABELLED)).toEqual([]);
      await decide(bob, 'bob', 'Approve', 'Checked the latency numbers; go.');
      await alice.getByText(/Waiting for approval: 1 of 2/).waitFor();

      const dave = await signIn('dave', approvalPath);
      await decide(dave, 'dave', 'Approve', 'Agreed.');
      await poll(() => dave.locator('[role=status][data-state]').getAttribute('data-state')).toBe(
        'approved',
      );

      // alice's page shows the grant (without a reload) and runs the change.
      await change.locator('[data-approval-state=approved]').waitFor();
      // Names as the issuer's tokens carry them (display name or username).
      await poll(text(change.locator('.approval-progress'))).toMatch(/Approved by bob.*, dave/i);
      await change.getByRole('button', { name: 'Run enable-fallback with the approval' }).click();
      await change.locator('[data-status=ok]').waitFor();
      expect(await change.locator('.outputs').innerText()).toContain('enabled=True');
      await screenshot(alice, 'session-done');
      await alice.emulateMedia({ colorScheme: 'dark' });
      await screenshot(alice, 'session-dark');

      // carol (security) reads the session's timeline and verifies its hash chain.
      const carol = await signIn('carol', '/audit');
      await carol.getByRole('heading', { name: 'Audit trail' }).waitFor();
      await carol.getByLabel('Session id').fill(sessionId);
      await carol.getByRole('button', { name: 'Search' }).click();
      await carol.locator('table.events tbody tr').first().waitFor();
      await screenshot(carol, 'audit');
      expect(await carol.evaluate(UNLABELLED)).toEqual([]);
      await carol
        .getByRole('link', { name: 'Timeline and chain verification of this session' })
        .click();
      await carol.waitForURL(`${gw.url}/audit/sessions/${sessionId}`);
      const timeline = carol.locator('ol.timeline');
      await timeline.waitFor();
      const story = await timeline.innerText();
      for (const type of [
        'session.started',
        'approval.requested',
        'approval.granted',
        'credential.issued',
        'credential.revoked',
        'cell.execution.completed',
      ]) {
        expect(story).toContain(type);
      }
      expect(story).toContain('issued elevated credential for demo-shop (cell enable-fallback)');
      await carol.getByRole('button', { name: 'Verify the hash chain' }).click();
      await poll(text(carol.getByTestId('verify-result'))).toContain('Chain intact');
      await screenshot(carol, 'timeline');
    },
    JOURNEY_TIMEOUT,
  );

  it('kernel HTML, SVG, markdown and text run no script in the app origin', async () => {
    // With the gateway's CSP switched off in this browser: the sandbox and the sanitizers
    // must hold on their own, the CSP is the second lock.
    const page = await signIn('alice', '/runbooks/test/hostile', { bypassCSP: true });
    await page.getByLabel('Reason').fill('hostile outputs (browser test)');
    await page.getByRole('button', { name: 'Start session' }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
    const hostile = cell(page, 'hostile');
    await hostile.getByRole('button', { name: 'Run hostile' }).click();
    await hostile.locator('[data-status=error]').waitFor();

    // Every output arrived and is shown: the HTML in a frame, the SVG as an image.
    const frame = hostile.locator('iframe.output.html');
    await frame.waitFor();
    const svg = hostile.locator('img.output.image');
    await poll(() =>
      svg.evaluate((img: LoadedImage) => (img.complete ? img.naturalWidth : 0)),
    ).toBe(40);
    expect(await hostile.locator('.output.markdown').innerText()).toContain('md link');
    expect(await hostile.locator('pre.output.stream').innerText()).toContain('<img src=x onerror=');
    expect(await hostile.locator('.output.error').innerText()).toContain('ValueError');
    const inner = page.frameLocator('iframe.output.html');
    expect(await inner.locator('td').innerText()).toBe('a table still shows');

    // Try every door: the link and the form in the frame, and the markdown link in the app.
    await inner.locator('#jslink').click();
    await inner.locator('#formbtn').click();
    // Sanitized, the markdown link is text without a target; click it if it is a link at all.
    const mdLink = page.locator('.output.markdown a');
    if ((await mdLink.count()) > 0) await mdLink.first().click();
    await screenshot(page, 'hostile');

    // Let anything that was going to run have run: a frame and a task on the page's loop.
    await page.evaluate(SETTLE);
    const app = (await page.evaluate(APP_STATE)) as AppState;
    expect(markerHits).toEqual([]);
    expect(app).toEqual({
      pwned: null,
      inlineScripts: 0,
      handlers: 0,
      jsLinks: 0,
      inlineSvg: 0,
      frameSandboxes: app.frameSandboxes.map(() => ''),
    });
    expect(new URL(page.url()).pathname).toMatch(/^\/sessions\//);
    expect(await frame.getAttribute('sandbox')).toBe('');
  });

  it(
    'sends a stale sign-in back to the issuer before a decision, and lists the cells a change must wait for',
    async () => {
      const alice = await signIn('alice', '/runbooks/test/ordered');
      await alice.getByLabel('Reason').fill('ordered change (browser test)');
      await alice.getByRole('button', { name: 'Start session' }).click();
      await alice.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
      const fix = cell(alice, 'fix');
      await fix.getByLabel('Why is this change needed?').fill('needs fixing');
      await fix.getByRole('button', { name: 'Request approval' }).click();
      await fix.getByText(/Waiting for approval: 0 of 1/).waitFor();

      // dave's sign-in grows older than the step-up window before he decides.
      const dave = await signIn('dave', '/approvals');
      await dave.getByRole('link', { name: /test\/ordered · fix/ }).click();
      await dave.waitForURL(/\/approvals\/[^/]+$/);
      const me = (await (await dave.request.get(`${gw.url}/auth/me`)).json()) as {
        authTime: number;
      };
      expect(typeof me.authTime).toBe('number');
      await poll(async () => Date.now() / 1000 - me.authTime).toBeGreaterThan(STEP_UP_SECONDS + 1);
      const authorizations: string[] = [];
      dave.on('request', (r) => {
        if (/\/dev-oidc\/auth\?/.test(r.url())) authorizations.push(r.url());
      });
      const approvalUrl = dave.url();
      await dave.getByLabel(/^Comment/).fill('ok');
      await dave.getByRole('button', { name: 'Approve', exact: true }).click();
      await dave.waitForURL(/\/dev-oidc\//);
      expect(authorizations.length).toBeGreaterThan(0);
      expect(new URL(authorizations[0]).searchParams.get('max_age')).toBe(String(STEP_UP_SECONDS));
      await completeIssuerLogin(dave, 'dave');
      expect(dave.url()).toBe(approvalUrl);
      await decide(dave, 'dave', 'Approve', 'ok after signing in again');

      // alice runs the change before the step it depends on: the page says what to run first.
      await fix.locator('[data-approval-state=approved]').waitFor();
      await fix.getByRole('button', { name: 'Run fix with the approval' }).click();
      const refusal = fix.locator('[role=alert]');
      await refusal.waitFor();
      expect(await refusal.innerText()).toContain('must run first');
      expect(await refusal.locator('ol.run-first li').allInnerTexts()).toEqual(['look']);
      await screenshot(alice, 'out-of-order');
      // Shift+Enter on the focused cell runs it, as in Jupyter.
      await cell(alice, 'look').focus();
      await alice.keyboard.press('Shift+Enter');
      await cell(alice, 'look').locator('[data-status=ok]').waitFor();
      await fix.getByRole('button', { name: 'Run fix with the approval' }).click();
      await fix.locator('[data-status=ok]').waitFor();
      expect(await fix.locator('.outputs').innerText()).toContain('fixed after looked');
    },
    JOURNEY_TIMEOUT,
  );
});
