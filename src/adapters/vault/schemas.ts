import { z } from 'zod';

/**
 * Shapes of the Vault token and login answers (the Transit answers' are in
 * vault-transit.adapter.ts, error bodies' in vault-errors.ts). Only what we read is required; Vault
 * and OpenBao add fields freely. A response that does not fit is an error,
 * never a crash.
 */
const nonNegativeInt = z.coerce.number().int().nonnegative();

export const lookupData = z.object({
  data: z.object({
    ttl: z.coerce.number().int(),
    creation_ttl: z.coerce.number().int().default(0),
    renewable: z.boolean().default(false),
    period: z.coerce.number().int().optional().nullable(),
  }),
});

export const authData = z.object({
  auth: z.object({
    client_token: z.string().min(1),
    lease_duration: nonNegativeInt.default(0),
  }),
  warnings: z.array(z.string()).nullable().optional(),
});
