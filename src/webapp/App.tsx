import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Header } from './components/Header';
import { ErrorBox, Loading } from './components/States';
import { ApiError, api, setCsrfToken, signIn } from './lib/api';
import { useLocation } from './lib/router';
import type { Me } from './lib/types';
import { Approvals } from './pages/Approvals';
import { Catalog } from './pages/Catalog';
import { SignIn } from './pages/SignIn';

/** What the signed-in person may see beyond the basics, probed once at start. */
export interface Abilities {
  audit: boolean;
}

type Auth =
  | { state: 'loading' }
  | { state: 'signed-out' }
  | { state: 'error'; error: unknown }
  | { state: 'signed-in'; me: Me; abilities: Abilities };

export function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'loading' });
  const url = useLocation();

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const me = await api<Me>('/auth/me');
        setCsrfToken(me.csrfToken);
        // The audit explorer is for people with audit:read; the policy decides, so ask it
        // with the cheapest query instead of guessing from group names.
        const audit = await api('/v1/audit/events?limit=1').then(
          () => true,
          () => false,
        );
        if (!cancelled) setAuth({ state: 'signed-in', me, abilities: { audit } });
      } catch (err) {
        if (cancelled) return;
        if (err instanceof ApiError && err.status === 401) setAuth({ state: 'signed-out' });
        else setAuth({ state: 'error', error: err });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  if (auth.state === 'loading') return <Loading what="rungate" />;
  if (auth.state === 'error') {
    return (
      <main class="page">
        <ErrorBox error={auth.error} retry={() => location.reload()} />
      </main>
    );
  }
  if (auth.state === 'signed-out') return <SignIn onSignIn={() => signIn()} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header me={auth.me} abilities={auth.abilities} path={url.pathname} />
      <main id="main" class="page" tabIndex={-1}>
        <Route url={url} me={auth.me} abilities={auth.abilities} />
      </main>
    </>
  );
}

function Route({ url, me, abilities }: { url: URL; me: Me; abilities: Abilities }) {
  const path = url.pathname;
  let m: RegExpMatchArray | null;
  useEffect(() => {
    document.title = titleOf(path);
  }, [path]);
  if (path === '/' || path === '/runbooks') return <Catalog />;
  if ((m = path.match(/^\/runbooks\/(.+)$/)))
    return <Lazy load={loadStart} name="StartSession" props={{ id: decodeURI(m[1]) }} />;
  if ((m = path.match(/^\/sessions\/([0-9a-f-]{36})$/i)))
    return <Lazy load={loadSession} name="SessionPage" props={{ id: m[1], me }} />;
  if (path === '/approvals') return <Approvals />;
  if ((m = path.match(/^\/approvals\/([^/]+)$/)))
    return <Lazy load={loadApproval} name="ApprovalPage" props={{ id: m[1], me }} />;
  if (path === '/audit' || path.startsWith('/audit/')) {
    if (!abilities.audit) {
      return (
        <ErrorBox
          error={
            new Error('The audit explorer needs the audit:read permission, which you do not have.')
          }
        />
      );
    }
    const s = path.match(/^\/audit\/sessions\/([0-9a-f-]{36})$/i);
    return s ? (
      <Lazy load={loadAudit} name="SessionTimeline" props={{ id: s[1] }} />
    ) : (
      <Lazy load={loadAudit} name="AuditExplorer" props={{ search: url.search }} />
    );
  }
  return <ErrorBox error={new Error(`No page at ${path}.`)} />;
}

function titleOf(path: string): string {
  if (path.startsWith('/sessions/')) return 'Session · rungate';
  if (path.startsWith('/runbooks/')) return 'Start a session · rungate';
  if (path.startsWith('/approvals/')) return 'Approval · rungate';
  if (path === '/approvals') return 'Approvals · rungate';
  if (path.startsWith('/audit')) return 'Audit · rungate';
  return 'Runbooks · rungate';
}

// The pages that render notebooks (and so carry marked, highlight.js, ansi_up and
// DOMPurify) and the audit explorer load on first use; the catalog and the inbox come
// with the first load.
type PageModule = Record<string, ComponentType<never>>;
const loadSession = () => import('./pages/Session') as unknown as Promise<PageModule>;
const loadStart = () => import('./pages/StartSession') as unknown as Promise<PageModule>;
const loadApproval = () => import('./pages/Approval') as unknown as Promise<PageModule>;
const loadAudit = () => import('./pages/Audit') as unknown as Promise<PageModule>;

const loaded = new Map<() => Promise<PageModule>, PageModule>();

function Lazy({
  load,
  name,
  props,
}: {
  load: () => Promise<PageModule>;
  name: string;
  props: Record<string, unknown>;
}) {
  // The module comes from the cache on every render: one Lazy instance serves one page
  // after another (start a session, then its page) as the route changes.
  const mod = loaded.get(load);
  const [, setLoadedCount] = useState(0);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    if (loaded.has(load)) return;
    let cancelled = false;
    load().then(
      (m) => {
        loaded.set(load, m);
        if (!cancelled) setLoadedCount((n) => n + 1);
      },
      () => {
        if (!cancelled) {
          setError(
            new Error('This page could not be loaded; the app may have been updated. Reload.'),
          );
        }
      },
    );
    return () => {
      cancelled = true;
    };
  }, [load]);
  if (error !== undefined) return <ErrorBox error={error} retry={() => location.reload()} />;
  if (mod === undefined) return <Loading what="page" />;
  const Page = mod[name] as unknown as ComponentType<Record<string, unknown>>;
  return <Page {...props} />;
}
