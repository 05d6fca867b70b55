/**
 * Fault injection rules (README "Faults"). Rules are validated and their
 * path regexes compiled when added, then checked in order for every /v1
 * request; a rule with a count is spent by each request it affects.
 */
import { z } from 'zod';
import type { Flavor, Reply } from './envelope';
import { errorReply, multiErrorText, okReply } from './envelope';

export const FAULT_KINDS = ['status', 'reset', 'truncate', 'wrong-shape', 'hang', 'redirect', 'reject-batch'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const faultRuleSchema = z
  .object({
    /** Regex tested against the path after /v1/ (no query string). */
    path: z.string(),
    kind: z.enum(FAULT_KINDS),
    status: z.number().int().min(100).max(599).optional(),
    /** Body to send instead of the default (status, wrong-shape, reject-batch). */
    body: z.unknown().optional(),
    /** Seconds, sent as Retry-After (status and reject-batch). */
    retryAfter: z.number().int().nonnegative().optional(),
    /** Base URL for `redirect`; the original /v1 path and query are appended. */
    location: z.string().url().optional(),
    /** How many matching requests the rule affects; unlimited when absent. */
    count: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.kind === 'redirect' && rule.location === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'redirect needs a location', path: ['location'] });
    }
    try {
      new RegExp(rule.path);
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid regex: ${(err as Error).message}`, path: ['path'] });
    }
  });

export type FaultRule = z.infer<typeof faultRuleSchema>;

export class FaultRuleError extends Error {}

interface ActiveFault {
  readonly rule: FaultRule;
  readonly matcher: RegExp;
  remaining: number;
}

export class FaultInjector {
  private active: ActiveFault[] = [];

  /** Validates all rules first, so a bad batch adds nothing. */
  add(rules: readonly unknown[]): void {
    const parsed = rules.map((raw, i) => {
      const result = faultRuleSchema.safeParse(raw);
      if (!result.success) {
        const detail = result.error.issues.map((issue) => `${issue.path.join('.') || 'rule'}: ${issue.message}`).join('; ');
        throw new FaultRuleError(`rules[${i}]: ${detail}`);
      }
      return result.data;
    });
    for (const rule of parsed) {
      this.active.push({ rule, matcher: new RegExp(rule.path), remaining: rule.count ?? Number.POSITIVE_INFINITY });
    }
  }

  clear(): void {
    this.active = [];
  }

  get size(): number {
    return this.active.length;
  }

  list(): (FaultRule & { remaining: number | null })[] {
    return this.active.map((a) => ({ ...a.rule, remaining: Number.isFinite(a.remaining) ? a.remaining : null }));
  }

  /** The first rule that applies to this request, with its count spent. */
  take(path: string, rawBody: string): FaultRule | undefined {
    for (let i = 0; i < this.active.length; i++) {
      const fault = this.active[i]!;
      if (!fault.matcher.test(path)) continue;
      if (fault.rule.kind === 'reject-batch' && !rawBody.includes('batch_input')) continue;
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.active.splice(i, 1);
      return fault.rule;
    }
    return undefined;
  }
}

function withRetryAfter(reply: Reply, rule: FaultRule): Reply {
  if (rule.retryAfter === undefined) return reply;
  return { ...reply, headers: { ...reply.headers, 'Retry-After': String(rule.retryAfter) } };
}

function customBody(status: number, body: unknown): Reply {
  return { status, body: JSON.stringify(body) + '\n' };
}

/** The usual body a real server (or quota/proxy layer) sends with each status. */
export function defaultStatusReply(status: number, path: string): Reply {
  switch (status) {
    case 503:
      return errorReply(503, 'Vault is sealed');
    case 429:
      return errorReply(429, `request path "${path}": rate limit quota exceeded`);
    case 412:
      return errorReply(412, 'required index state not present');
    case 500:
      return errorReply(500, multiErrorText('internal error'));
    case 502:
      return errorReply(502, 'upstream error');
    case 403:
      return errorReply(403, 'permission denied');
    case 404:
      return errorReply(404);
    default:
      return errorReply(status, `injected fault: HTTP ${status}`);
  }
}

export function statusFaultReply(rule: FaultRule, path: string): Reply {
  const status = rule.status ?? 503;
  const reply = rule.body === undefined ? defaultStatusReply(status, path) : customBody(status, rule.body);
  return withRetryAfter(reply, rule);
}

/** What a server that predates batch_input answers: it ignores the field and misses the single one. */
export function rejectBatchReply(rule: FaultRule, path: string): Reply {
  const status = rule.status ?? 400;
  if (rule.body !== undefined) return withRetryAfter(customBody(status, rule.body), rule);
  const message = path.includes('decrypt/')
    ? 'missing ciphertext to decrypt'
    : path.includes('encrypt/')
      ? 'missing plaintext to encrypt'
      : 'batch_input is not supported';
  return withRetryAfter(errorReply(status, message), rule);
}

/** Valid JSON, wrong types everywhere a client looks. */
export function wrongShapeReply(rule: FaultRule, flavor: Flavor): Reply {
  if (rule.body !== undefined) return customBody(rule.status ?? 200, rule.body);
  const reply = okReply(
    { flavor, mountType: 'transit' },
    {
      batch_results: { unexpected: true },
      ciphertext: 12345,
      creation_ttl: 'long',
      key_version: 'one',
      keys: 'none',
      latest_version: 'latest',
      plaintext: 12345,
      ttl: 'soon',
    },
    { auth: { client_token: 42, lease_duration: 'forever', renewable: 'maybe' } },
  );
  return { ...reply, status: rule.status ?? 200 };
}

/** A plausible 200 answer, used when there is no real body to cut. */
export function standInReply(flavor: Flavor): Reply {
  return okReply({ flavor, mountType: 'transit' }, { ciphertext: 'vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', key_version: 1 });
}

/** A syntactically broken body: the first half of a real (or stand-in) answer. */
export function truncatedReply(real: Reply, flavor: Flavor): Reply {
  const source = real.body.length > 1 ? real : standInReply(flavor);
  return { ...source, body: source.body.slice(0, Math.floor(source.body.length / 2)) };
}
