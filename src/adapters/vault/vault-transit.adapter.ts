import type { CallContext } from '../../domain/model/call-context';
import { KmsError } from '../../domain/model/errors';
import { splitVaultCiphertext } from '../../domain/model/vault-ciphertext';
import type { DecryptOutcome, EncryptItem, EncryptOutcome, TransitKeyInfo, TransitPort } from '../../ports/transit.port';
import { batchData, decryptData, encryptData, keyData, type BatchItem } from './schemas';
import { classifyVaultError } from './vault-errors';
import type { VaultHttpClient } from './vault-http-client';
import { errorsOf, parseOk } from './vault-response';

/**
 * TransitPort over Vault/OpenBao HTTP. One item is sent as a plain request (the
 * same body the Go plugin sends); several go as one batch_input request. If a
 * server refuses batches, this adapter remembers it and sends singles instead.
 */
export class VaultTransitAdapter implements TransitPort {
  private batchSupported = true;

  constructor(
    private readonly http: VaultHttpClient,
    private readonly mount: string,
    private readonly key: string,
  ) {}

  async encrypt(items: readonly EncryptItem[], ctx: CallContext): Promise<EncryptOutcome[]> {
    const path = `${this.mount}/encrypt/${this.key}`;
    if (items.length > 1 && this.batchSupported) {
      const results = await this.batch(path, items.map(encryptBody), ctx, 'encrypt');
      if (results) return results.map((r) => toEncryptOutcome(r));
    }
    return Promise.all(items.map((item) => this.encryptOne(path, item, ctx)));
  }

  async decrypt(ciphertexts: readonly string[], ctx: CallContext): Promise<DecryptOutcome[]> {
    const path = `${this.mount}/decrypt/${this.key}`;
    if (ciphertexts.length > 1 && this.batchSupported) {
      const items = await this.batch(path, ciphertexts.map((c) => ({ ciphertext: c })), ctx, 'decrypt');
      if (items) return items.map((item) => toDecryptOutcome(item));
    }
    return Promise.all(ciphertexts.map((c) => this.decryptOne(path, c, ctx)));
  }

  async readKey(ctx: CallContext): Promise<TransitKeyInfo> {
    const res = await this.http.request('GET', `${this.mount}/keys/${this.key}`, undefined, ctx);
    if (res.status === 404) {
      throw new KmsError('failed-precondition', `Transit key "${this.key}" not found at mount "${this.mount}"`);
    }
    const { data } = parseOk(res, keyData, 'read of the transit key');
    return {
      latestVersion: data.latest_version,
      supportsEncryption: data.supports_encryption,
      supportsDecryption: data.supports_decryption,
      type: data.type,
    };
  }

  private async encryptOne(path: string, item: EncryptItem, ctx: CallContext): Promise<EncryptOutcome> {
    const res = await this.http.request('POST', path, encryptBody(item), ctx);
    if (res.status === 400) return { ok: false, error: classifyVaultError(400, errorsOf(res), 'encrypt') };
    const { data } = parseOk(res, encryptData, 'encrypt');
    return toEncryptOutcome(data);
  }

  private async decryptOne(path: string, ciphertext: string, ctx: CallContext): Promise<DecryptOutcome> {
    const res = await this.http.request('POST', path, { ciphertext }, ctx);
    if (res.status === 400) return { ok: false, error: classifyVaultError(400, errorsOf(res), 'decrypt') };
    const { data } = parseOk(res, decryptData, 'decrypt');
    return toDecryptOutcome({ plaintext: data.plaintext });
  }

  /** undefined means "this server does not do batches": the caller falls back to singles. */
  private async batch(path: string, items: object[], ctx: CallContext, op: string): Promise<BatchItem[] | undefined> {
    const res = await this.http.request('POST', path, { batch_input: items }, ctx);
    if (res.status === 200 || res.status === 400 || res.status === 500) {
      const parsed = batchData.safeParse(res.body);
      if (parsed.success && parsed.data.data.batch_results.length === items.length) return parsed.data.data.batch_results;
      if (res.status === 400) {
        this.batchSupported = false;
        return undefined;
      }
    }
    if (res.status === 200) throw new KmsError('internal', `Vault sent an unexpected batch ${op} response`);
    throw classifyVaultError(res.status, errorsOf(res), `batch ${op}`);
  }
}

/** The Go plugin's body ({plaintext}), plus key_version when pinned (a number: batch items refuse strings). */
function encryptBody(item: EncryptItem): { plaintext: string; key_version?: number } {
  return item.keyVersion === undefined ? { plaintext: b64(item.plaintext) } : { plaintext: b64(item.plaintext), key_version: item.keyVersion };
}

function toEncryptOutcome(item: { ciphertext?: string; key_version?: number; error?: string }): EncryptOutcome {
  if (item.error || !item.ciphertext) return { ok: false, error: classifyVaultError(400, [item.error ?? 'no ciphertext'], 'encrypt') };
  // Vault before 1.5 sent no key_version; the ciphertext prefix carries it.
  const version = item.key_version ?? splitVaultCiphertext(item.ciphertext)?.version;
  if (!version) return { ok: false, error: new KmsError('internal', 'Vault returned a ciphertext without a key version') };
  return { ok: true, ciphertext: item.ciphertext, keyVersion: version };
}

function toDecryptOutcome(item: { plaintext?: string; error?: string }): DecryptOutcome {
  if (item.error || item.plaintext === undefined) return { ok: false, error: classifyVaultError(400, [item.error ?? 'no plaintext'], 'decrypt') };
  return { ok: true, plaintext: Buffer.from(item.plaintext, 'base64') };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}
