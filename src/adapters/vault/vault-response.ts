import type { z, ZodTypeAny } from 'zod';
import { KmsError } from '../../ports/errors';
import { errorBody } from './schemas';
import { classifyVaultError, type VaultOperation } from './vault-errors';
import type { VaultResponse } from './vault-http-client';

/** The `errors` array of a Vault error body, or none. */
export function errorsOf(res: VaultResponse): string[] {
  const parsed = errorBody.safeParse(res.body);
  return parsed.success ? (parsed.data.errors ?? []) : [];
}

/** A 2xx body of the expected shape, or the classified error. */
export function parseOk<S extends ZodTypeAny>(res: VaultResponse, schema: S, op: VaultOperation): z.output<S> {
  if (res.status < 200 || res.status >= 300) throw classifyVaultError(res.status, errorsOf(res), op);
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new KmsError('internal', `Vault sent an unexpected response to ${op.what}`);
  return parsed.data;
}
