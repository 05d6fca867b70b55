import type { CallContext } from '../domain/call-context';
import type { TokenLookup } from '../domain/renewal-policy';

export interface LoginResult {
  readonly token: string;
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
}

/** Sends an unauthenticated login request (POST auth/<path>) and returns the token it issued. */
export interface LoginTransportPort {
  login(path: string, body: Readonly<Record<string, string>>, ctx: CallContext): Promise<LoginResult>;
}

/** One way of obtaining a Vault token (token, approle, ...). */
export interface AuthStrategyPort {
  readonly method: string;
  /** False when "logging in again" can only hand back the same credential (token auth). */
  readonly canObtainNewToken: boolean;
  login(ctx: CallContext): Promise<LoginResult>;
}

/** The token endpoints of the backend, acting on the token currently in use. */
export interface TokenSessionPort {
  useToken(token: string): void;
  lookupSelf(ctx: CallContext): Promise<TokenLookup>;
  renewSelf(incrementSeconds: number, ctx: CallContext): Promise<{ leaseDurationSeconds: number }>;
}
