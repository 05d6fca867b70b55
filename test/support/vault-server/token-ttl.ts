/**
 * Token lease maths (framework.CalculateTTL, vault-api.md §4.2 and §8) and
 * token identifiers.
 */
import { randomBytes } from 'node:crypto';
import { humanDuration } from './time';

/** Vault's system default and max lease TTL (768h = 32 days). */
export const SYSTEM_MAX_TTL = 768 * 3600;
export const SYSTEM_DEFAULT_TTL = SYSTEM_MAX_TTL;

export interface TtlInput {
  readonly nowMs: number;
  readonly issueMs: number;
  readonly increment: number;
  readonly backendTtl: number;
  readonly period: number;
  readonly backendMaxTtl: number;
  readonly explicitMaxTtl: number;
}

export type TtlResult = { readonly ttl: number; readonly warnings: string[] } | { readonly error: string };

/** framework.CalculateTTL: whole seconds, increment measured from now, capped at issue + max. */
export function calculateTtl(input: TtlInput): TtlResult {
  const now = Math.floor(input.nowMs / 1000);
  const start = Math.floor(input.issueMs / 1000);
  const warnings: string[] = [];
  let maxTtl = SYSTEM_MAX_TTL;
  if (input.backendMaxTtl > 0 && input.backendMaxTtl < maxTtl) maxTtl = input.backendMaxTtl;
  if (input.explicitMaxTtl > 0 && input.explicitMaxTtl < maxTtl) maxTtl = input.explicitMaxTtl;

  let ttl: number;
  let maxValidAt: number | null;
  if (input.period > 0) {
    let period = input.period;
    if (period > maxTtl) {
      warnings.push(
        `period of "${humanDuration(period)}" exceeded the effective max_ttl of "${humanDuration(maxTtl)}"; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    ttl = period;
    // Periodic tokens escape the max TTL unless an explicit max was set.
    maxValidAt = input.explicitMaxTtl > 0 ? start + input.explicitMaxTtl : null;
  } else {
    ttl = input.increment > 0 ? input.increment : input.backendTtl > 0 ? input.backendTtl : SYSTEM_DEFAULT_TTL;
    maxValidAt = start + maxTtl;
  }
  if (maxValidAt !== null) {
    const maxValidTtl = maxValidAt - now;
    if (maxValidTtl <= 0) return { error: 'past the max TTL, cannot renew' };
    if (maxValidTtl < ttl) {
      warnings.push(
        `TTL of "${humanDuration(ttl)}" exceeded the effective max_ttl of "${humanDuration(maxValidTtl)}"; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings };
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting the rest keeps the alphabet unbiased.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** policyutil.SanitizePolicies: trimmed, de-duplicated, sorted, "default" added. */
export function sanitizePolicies(policies: readonly string[], addDefault: boolean): string[] {
  const set = new Set(policies.map((p) => p.trim()).filter((p) => p.length > 0));
  if (set.has('root')) return ['root'];
  if (addDefault) set.add('default');
  return [...set].sort();
}

