/** The verified identity behind a request; what policy decides on and audit events carry. */
export interface Principal {
  /** Subject: stable id from the issuer. */
  readonly sub: string;
  /** Human-readable name (preferred_username or name claim, else sub). */
  readonly name: string;
  readonly email?: string;
  readonly groups: readonly string[];
  /** `jti` of the token, when present. */
  readonly tokenId?: string;
  /** Client that obtained the token (`client_id` / `azp`). */
  readonly clientId?: string;
  /**
   * When the person last authenticated at the issuer (`auth_time`, seconds since the
   * epoch), when the token says; decisions need it recent (see `step-up.ts`).
   */
  readonly authTime?: number;
}
