/**
 * The part of oidc-provider (v9, no bundled types) the development issuer uses.
 * Configuration reference: https://github.com/panva/node-oidc-provider/blob/main/docs/README.md
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** Koa context with the provider's `oidc` member; only what our callbacks read. */
  export interface KoaContextWithOIDC {
    readonly oidc: {
      readonly client?: { readonly clientId: string; readonly clientName?: string };
      /** Models loaded for this request, e.g. the device code a token is issued from. */
      readonly entities: Partial<
        Record<'DeviceCode' | 'AuthorizationCode' | 'RefreshToken', { readonly authTime?: number }>
      >;
    };
    type: string;
    body: unknown;
  }

  /** An issued token as seen by `extraTokenClaims` and format customizers. */
  export interface IssuedToken {
    readonly kind: string;
    readonly clientId?: string;
    readonly accountId?: string;
  }

  export interface Account {
    readonly accountId: string;
    claims(use: string, scope: string): Promise<Record<string, unknown>>;
  }

  /** Options are validated by oidc-provider at construction. */
  export type Configuration = Record<string, unknown>;

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    /** Koa's request listener. */
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error;
  };
}
