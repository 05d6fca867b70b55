import { z } from 'zod';

/**
 * Shapes of the Vault responses we use. Only what we read is required; Vault
 * and OpenBao add fields freely. A response that does not fit is an error,
 * never a crash.
 */
const nonNegativeInt = z.coerce.number().int().nonnegative();

export const errorBody = z.object({ errors: z.array(z.string()).optional() }).passthrough();

export const encryptData = z.object({
  data: z.object({ ciphertext: z.string().min(1), key_version: nonNegativeInt.optional() }),
});

export const decryptData = z.object({ data: z.object({ plaintext: z.string() }) });

const batchItem = z.object({
  ciphertext: z.string().optional(),
  plaintext: z.string().optional(),
  key_version: nonNegativeInt.optional(),
  error: z.string().optional(),
});
export const batchData = z.object({ data: z.object({ batch_results: z.array(batchItem) }) });
export type BatchItem = z.infer<typeof batchItem>;

export const keyData = z.object({
  data: z.object({
    latest_version: nonNegativeInt,
    supports_encryption: z.boolean().default(true),
    supports_decryption: z.boolean().default(true),
    type: z.string().default('aes256-gcm96'),
  }),
});

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
