import type { TokenLookup } from './token-lookup';
import type { CallContext } from './call-context';

/** One way of obtaining a Vault token (token, approle, ...). */
export interface AuthStrategyPort {
  readonly method: string;
  /** False when "logging in again" can only hand back the same credential (token auth). */
  readonly canObtainNewToken: boolean;
  /** Resolves to the token the login issued. */
  login(ctx: CallContext): Promise<string>;
}

/** The token endpoints of the backend, acting on the token currently in use. */
export interface TokenSessionPort {
  useToken(token: string): void;
  lookupSelf(ctx: CallContext): Promise<TokenLookup>;
  renewSelf(incrementSeconds: number, ctx: CallContext): Promise<{ leaseDurationSeconds: number }>;
}
