import type { ComponentChildren } from 'preact';
import { ApiError, describeError, signIn } from '../lib/api';

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <p>{describeError(error)}</p>
      {error instanceof ApiError && error.status === 401 && error.code !== 'step_up_required' && (
        <button type="button" class="primary" onClick={() => signIn()}>
          Sign in again
        </button>
      )}
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
