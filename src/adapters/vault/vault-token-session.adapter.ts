import type { CallContext } from '../../domain/model/call-context';
import type { TokenLookup } from '../../domain/model/renewal-policy';
import type { TokenSessionPort } from '../../ports/auth.port';
import { authData, lookupData } from './schemas';
import type { VaultHttpClient } from './vault-http-client';
import { parseOk } from './vault-response';

/** auth/token/lookup-self and renew-self for the token currently in use. */
export class VaultTokenSessionAdapter implements TokenSessionPort {
  constructor(private readonly http: VaultHttpClient) {}

  useToken(token: string): void {
    this.http.setToken(token);
  }

  async lookupSelf(ctx: CallContext): Promise<TokenLookup> {
    const res = await this.http.request('GET', 'auth/token/lookup-self', undefined, ctx);
    const { data } = parseOk(res, lookupData, 'token lookup');
    return {
      ttl: data.ttl,
      creationTtl: data.creation_ttl,
      renewable: data.renewable,
      period: data.period ?? 0,
    };
  }

  async renewSelf(incrementSeconds: number, ctx: CallContext): Promise<{ leaseDurationSeconds: number }> {
    const res = await this.http.request('POST', 'auth/token/renew-self', { increment: incrementSeconds }, ctx);
    const { auth } = parseOk(res, authData, 'token renewal');
    return { leaseDurationSeconds: auth.lease_duration };
  }
}
