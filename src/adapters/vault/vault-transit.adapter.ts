import { z } from 'zod';
import type { CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import { splitVaultCiphertext } from '../../domain/model/vault-ciphertext';
import type { DecryptOutcome, EncryptItem, EncryptOutcome, TransitBatchPort, TransitKeyInfo } from '../../ports/transit.port';
import { classifyVaultError, errorsOf, isRequestSizeRefusal, parseOk, type VaultOperation } from './vault-errors';
import type { VaultHttpClient } from './vault-http-client';

/** The Transit answers this adapter reads; only what it reads is required (Vault and OpenBao add fields freely). */
const nonNegativeInt = z.coerce.number().int().nonnegative();

const encryptData = z.object({
  data: z.object({ ciphertext: z.string().min(1), key_version: nonNegativeInt.optional() }),
});

const decryptData = z.object({ data: z.object({ plaintext: z.string() }) });

const batchItem = z.object({
  ciphertext: z.string().optional(),
  plaintext: z.string().optional(),
  key_version: nonNegativeInt.optional(),
  error: z.string().optional(),
});
const batchData = z.object({ data: z.object({ batch_results: z.array(batchItem) }) });
type BatchItem = z.infer<typeof batchItem>;

const keyData = z.object({
  data: z.object({
    latest_version: nonNegativeInt,
    supports_encryption: z.boolean().default(true),
    supports_decryption: z.boolean().default(true),
    type: z.string().default('aes256-gcm96'),
  }),
});

/**
 * The batch-shaped Transit backend over Vault/OpenBao HTTP. One item is sent as a plain request (the
 * same body the Go plugin sends); several go as one batch_input request. If a
 * server refuses batches, this adapter remembers it and sends singles instead;
 * if it refuses one as too large (OpenBao's and Vault's JSON limits), it sends halves.
 */
export class VaultTransitAdapter implements TransitBatchPort {
  private batchSupported = true;
  private readonly encryptOp: VaultOperation;
  private readonly decryptOp: VaultOperation;
  private readonly keyReadOp: VaultOperation;

  constructor(
    private readonly http: VaultHttpClient,
    private readonly mount: string,
    private readonly key: string,
  ) {
    this.encryptOp = { what: 'encrypt', path: `${mount}/encrypt/${key}`, capability: 'update' };
    this.decryptOp = { what: 'decrypt', path: `${mount}/decrypt/${key}`, capability: 'update' };
    this.keyReadOp = { what: 'read of the transit key', path: `${mount}/keys/${key}`, capability: 'read' };
  }

  async encrypt(items: readonly EncryptItem[], ctx: CallContext): Promise<EncryptOutcome[]> {
    if (items.length > 1 && this.batchSupported) {
      const results = await this.batch(this.encryptOp, items.map(encryptBody), ctx);
      if (results) return results.map((r) => toEncryptOutcome(r, this.encryptOp));
    }
    return Promise.all(items.map((item) => this.encryptOne(item, ctx)));
  }

  async decrypt(ciphertexts: readonly string[], ctx: CallContext): Promise<DecryptOutcome[]> {
    if (ciphertexts.length > 1 && this.batchSupported) {
      const items = await this.batch(this.decryptOp, ciphertexts.map((c) => ({ ciphertext: c })), ctx);
      if (items) return items.map((item) => toDecryptOutcome(item, this.decryptOp));
    }
    return Promise.all(ciphertexts.map((c) => this.decryptOne(c, ctx)));
  }

  async readKey(ctx: CallContext): Promise<TransitKeyInfo> {
    const res = await this.http.request('GET', `${this.mount}/keys/${this.key}`, undefined, ctx);
    if (res.status === 404) {
      throw new KmsError('failed-precondition', `Transit key "${this.key}" not found at mount "${this.mount}"`);
    }
    const { data } = parseOk(res, keyData, this.keyReadOp);
    return {
      latestVersion: data.latest_version,
      supportsEncryption: data.supports_encryption,
      supportsDecryption: data.supports_decryption,
      type: data.type,
    };
  }

  private async encryptOne(item: EncryptItem, ctx: CallContext): Promise<EncryptOutcome> {
    const res = await this.http.request('POST', this.encryptOp.path, encryptBody(item), ctx);
    if (res.status === 400) return { ok: false, error: classifyVaultError(400, errorsOf(res), this.encryptOp) };
    const { data } = parseOk(res, encryptData, this.encryptOp);
    return toEncryptOutcome(data, this.encryptOp);
  }

  private async decryptOne(ciphertext: string, ctx: CallContext): Promise<DecryptOutcome> {
    const res = await this.http.request('POST', this.decryptOp.path, { ciphertext }, ctx);
    if (res.status === 400) return { ok: false, error: classifyVaultError(400, errorsOf(res), this.decryptOp) };
    const { data } = parseOk(res, decryptData, this.decryptOp);
    return toDecryptOutcome({ plaintext: data.plaintext }, this.decryptOp);
  }

  /** undefined means "this server does not do batches": the caller falls back to singles. */
  private async batch(op: VaultOperation, items: object[], ctx: CallContext): Promise<BatchItem[] | undefined> {
    const res = await this.http.request('POST', op.path, { batch_input: items }, ctx);
    if (res.status === 200 || res.status === 400 || res.status === 500) {
      const results = parsedBatchResults(res.body);
      if (results && results.length === items.length) return results;
      if (items.length > 1 && isRequestSizeRefusal(res.status, errorsOf(res))) {
        // Over the server's request limits (OpenBao's 400, Vault's 500): halve, never fail the callers.
        const half = Math.ceil(items.length / 2);
        const [first, second] = await Promise.all([this.batch(op, items.slice(0, half), ctx), this.batch(op, items.slice(half), ctx)]);
        return first && second ? [...first, ...second] : undefined;
      }
      if (res.status === 400) {
        this.batchSupported = false;
        return undefined;
      }
    }
    if (res.status === 200) throw new KmsError('internal', `Vault sent an unexpected batch ${op.what} response`);
    throw classifyVaultError(res.status, errorsOf(res), { ...op, what: `batch ${op.what}` });
  }
}

function parsedBatchResults(body: unknown): BatchItem[] | undefined {
  const parsed = batchData.safeParse(body);
  return parsed.success ? parsed.data.data.batch_results : undefined;
}

/** The Go plugin's body ({plaintext}), plus key_version when pinned (a number: batch items refuse strings). */
function encryptBody(item: EncryptItem): { plaintext: string; key_version?: number } {
  return item.keyVersion === undefined ? { plaintext: b64(item.plaintext) } : { plaintext: b64(item.plaintext), key_version: item.keyVersion };
}

function toEncryptOutcome(item: { ciphertext?: string; key_version?: number; error?: string }, op: VaultOperation): EncryptOutcome {
  if (item.error || !item.ciphertext) return { ok: false, error: classifyVaultError(400, [item.error ?? 'no ciphertext'], op) };
  // Vault before 1.5 sent no key_version; the ciphertext prefix carries it.
  const version = item.key_version ?? splitVaultCiphertext(item.ciphertext)?.version;
  if (!version) return { ok: false, error: new KmsError('internal', 'Vault returned a ciphertext without a key version') };
  return { ok: true, ciphertext: item.ciphertext, keyVersion: version };
}

function toDecryptOutcome(item: { plaintext?: string; error?: string }, op: VaultOperation): DecryptOutcome {
  if (item.error || item.plaintext === undefined) return { ok: false, error: classifyVaultError(400, [item.error ?? 'no plaintext'], op) };
  return { ok: true, plaintext: Buffer.from(item.plaintext, 'base64') };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}
