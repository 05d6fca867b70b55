/**
 * Accepted policy documents for POST sys/policies/acl/:name.
 *
 * The emulator does not parse HCL. It takes either
 *   {"rules":[{"path":"transit/encrypt/kms","capabilities":["update"]}]}
 * or Vault's own JSON policy syntax passed as the `policy` string:
 *   {"policy":"{\"path\":{\"transit/encrypt/kms\":{\"capabilities\":[\"update\"]}}}"}
 */
import { z } from 'zod';
import { CAPABILITIES, PolicyRule } from './policies';

const capabilitySchema = z.enum(CAPABILITIES);

const rulesDocument = z.object({
  rules: z.array(z.object({ path: z.string().min(1), capabilities: z.array(capabilitySchema) })),
});

/** Vault's JSON form of an HCL policy. */
const vaultJsonPolicy = z.object({
  path: z.record(z.string(), z.object({ capabilities: z.array(capabilitySchema) })),
});

export type PolicyParse = { readonly ok: true; readonly rules: PolicyRule[] } | { readonly ok: false; readonly error: string };

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Where Vault would say "failed to parse policy", the emulator explains what it accepts. */
export function parsePolicyDocument(body: Readonly<Record<string, unknown>>): PolicyParse {
  if (body.rules !== undefined) {
    const parsed = rulesDocument.safeParse(body);
    if (!parsed.success) return { ok: false, error: `failed to parse policy: ${describe(parsed.error)}` };
    return { ok: true, rules: parsed.data.rules };
  }
  if (typeof body.policy === 'string') {
    let json: unknown;
    try {
      json = JSON.parse(body.policy);
    } catch {
      return {
        ok: false,
        error: 'failed to parse policy: the Vault test server accepts JSON policies only ({"rules":[...]} or Vault JSON syntax), not HCL',
      };
    }
    const parsed = vaultJsonPolicy.safeParse(json);
    if (!parsed.success) return { ok: false, error: `failed to parse policy: ${describe(parsed.error)}` };
    return {
      ok: true,
      rules: Object.entries(parsed.data.path).map(([path, rule]) => ({ path, capabilities: rule.capabilities })),
    };
  }
  return { ok: false, error: "'policy' parameter not supplied or empty" };
}

/** The `policy` text returned by GET: Vault JSON syntax, which this server accepts back. */
export function policyText(rules: readonly PolicyRule[]): string {
  const paths: Record<string, { capabilities: readonly string[] }> = {};
  for (const rule of rules) paths[rule.path] = { capabilities: rule.capabilities };
  return JSON.stringify({ path: paths });
}
