import type { TokenLookup } from '../../ports/token-lookup';

/**
 * Token renewal policy as pure functions of a token lookup. The loop that calls
 * them lives in TokenLifecycle. Rules (seed document, plus the fixes for the Go
 * plugin's issue #304):
 *  - non-expiring tokens (creation_ttl 0, e.g. root) need nothing;
 *  - renew when ttl < creation_ttl / 2;
 *  - a token that is not renewable, or whose renewal was capped by its max TTL
 *    so that it would expire before the check after next, must be replaced by
 *    logging in again (AppRole) — renewing it would "succeed" and still expire.
 */

export interface RenewalSettings {
  /** The -token-renewal increment in seconds. */
  readonly incrementSeconds: number;
  /** The -token-refresh-interval in seconds. */
  readonly checkIntervalSeconds: number;
}

type RenewalAction =
  | { readonly action: 'none'; readonly reason: string }
  | { readonly action: 'renew'; readonly incrementSeconds: number; readonly reason: string }
  | { readonly action: 'relogin'; readonly reason: string };

/** A token must outlive the next two checks; anything shorter is "about to expire". */
function safetyMarginSeconds(s: RenewalSettings): number {
  return 2 * s.checkIntervalSeconds + 5;
}

export function decideOnLookup(lookup: TokenLookup, s: RenewalSettings): RenewalAction {
  if (lookup.creationTtl <= 0 && lookup.ttl <= 0) {
    return { action: 'none', reason: 'token does not expire' };
  }
  const wantsRenewal = lookup.ttl < lookup.creationTtl / 2 || lookup.ttl <= safetyMarginSeconds(s);
  if (!wantsRenewal) {
    return { action: 'none', reason: 'more than half of the token TTL is left' };
  }
  if (!lookup.renewable) {
    return { action: 'relogin', reason: 'token is not renewable and is past half of its TTL' };
  }
  return { action: 'renew', incrementSeconds: s.incrementSeconds, reason: 'less than half of the token TTL is left' };
}

/**
 * After a successful renew-self: Vault caps the granted lease at the token's max
 * TTL without failing. If what we got would not outlast the next checks, the
 * token is dying and only a new login helps.
 */
export function decideAfterRenewal(grantedSeconds: number, s: RenewalSettings): RenewalAction {
  if (grantedSeconds <= safetyMarginSeconds(s)) {
    return {
      action: 'relogin',
      reason: `renewal was capped at ${grantedSeconds}s by the token's max TTL, shorter than the next checks`,
    };
  }
  return { action: 'none', reason: 'renewed' };
}
