import type { CallContext } from '../../ports/call-context';
import type { TokenSessionPort } from '../../ports/auth.port';
import type { TokenLookup } from '../../ports/token-lookup';
import { authData, lookupData } from './schemas';
import type { VaultHttpClient } from './vault-http-client';
import type { VaultOperation } from './vault-errors';
import { parseOk } from './vault-errors';

const LOOKUP_SELF: VaultOperation = { what: 'token lookup', path: 'auth/token/lookup-self', capability: 'read' };
const RENEW_SELF: VaultOperation = { what: 'token renewal', path: 'auth/token/renew-self', capability: 'update' };

/** auth/token/lookup-self and renew-self for the token currently in use. */
export class VaultTokenSessionAdapter implements TokenSessionPort {
  constructor(private readonly http: VaultHttpClient) {}

  useToken(token: string): void {
    this.http.setToken(token);
  }

  async lookupSelf(ctx: CallContext): Promise<TokenLookup> {
    const res = await this.http.request('GET', LOOKUP_SELF.path, undefined, ctx);
    const { data } = parseOk(res, lookupData, LOOKUP_SELF);
    return {
      ttl: data.ttl,
      creationTtl: data.creation_ttl,
      renewable: data.renewable,
      period: data.period ?? 0,
    };
  }

  async renewSelf(incrementSeconds: number, ctx: CallContext): Promise<{ leaseDurationSeconds: number }> {
    const res = await this.http.request('POST', RENEW_SELF.path, { increment: incrementSeconds }, ctx);
    const { auth } = parseOk(res, authData, RENEW_SELF);
    return { leaseDurationSeconds: auth.lease_duration };
  }
}
