import { useState } from 'preact/hooks';
import type { Abilities } from '../App';
import { api, describeError } from '../lib/api';
import { Link } from '../lib/router';
import type { Me } from '../lib/types';

export function Header({ me, abilities, path }: { me: Me; abilities: Abilities; path: string }) {
  const [error, setError] = useState<string | undefined>(undefined);
  const signOut = async () => {
    try {
      const r = await api<{ endSessionUrl?: string } | null>('/auth/logout', { method: 'POST' });
      // Ending the issuer's session too, when it offers that; otherwise back to the start.
      location.assign(r?.endSessionUrl ?? '/');
    } catch (err) {
      setError(describeError(err));
    }
  };
  const current = (prefix: string) =>
    (
      prefix === '/'
        ? path === '/' || path.startsWith('/runbooks') || path.startsWith('/sessions')
        : path.startsWith(prefix)
    )
      ? 'page'
      : undefined;
  return (
    <header class="top">
      <nav aria-label="Main">
        <Link href="/" class="brand">
          rungate
        </Link>
        <Link href="/" aria-current={current('/')}>
          Runbooks
        </Link>
        <Link href="/approvals" aria-current={current('/approvals')}>
          Approvals
        </Link>
        {abilities.audit && (
          <Link href="/audit" aria-current={current('/audit')}>
            Audit
          </Link>
        )}
      </nav>
      <div class="who">
        <span title={`${me.sub} · ${me.groups.join(', ') || 'no groups'}`}>
          Signed in as <strong data-testid="me">{me.name}</strong>
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
        {error && (
          <span role="alert" class="inline-error">
            {error}
          </span>
        )}
      </div>
    </header>
  );
}
