export function SignIn({ onSignIn }: { onSignIn: () => void }) {
  return (
    <main class="page signin">
      <h1>rungate</h1>
      <p>Audited runbooks for production. Sign in with your organisation's account to continue.</p>
      <button type="button" class="primary" onClick={onSignIn} autoFocus>
        Sign in
      </button>
    </main>
  );
}
