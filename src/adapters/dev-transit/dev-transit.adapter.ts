import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import { formatVaultCiphertext, splitVaultCiphertext } from '../../domain/model/vault-ciphertext';
import type { DecryptOutcome, EncryptItem, EncryptOutcome, TransitBatchPort, TransitKeyInfo } from '../../ports/transit.port';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * An in-process Transit stand-in for -dev: AES-256-GCM with the exact Vault
 * ciphertext layout (`vault:vN:` + base64(nonce ‖ ciphertext ‖ tag)), so
 * everything above the port behaves as with Vault. The keys live only in
 * memory: restarting the plugin makes every ciphertext undecryptable. That is
 * the point of "dev", and why it warns loudly at start-up.
 */
export class DevTransitAdapter implements TransitBatchPort {
  private readonly versions: Buffer[] = [randomBytes(32)];

  rotate(): number {
    this.versions.push(randomBytes(32));
    return this.versions.length;
  }

  async encrypt(items: readonly EncryptItem[], _ctx: CallContext): Promise<EncryptOutcome[]> {
    return items.map(({ plaintext: p, keyVersion }) => {
      const version = keyVersion ?? this.versions.length;
      const key = this.versions[version - 1];
      if (!key) return { ok: false, error: new KmsError('failed-precondition', 'requested key version does not exist') };
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const body = Buffer.concat([nonce, cipher.update(p), cipher.final(), cipher.getAuthTag()]);
      return { ok: true, ciphertext: formatVaultCiphertext(version, body), keyVersion: version };
    });
  }

  async decrypt(ciphertexts: readonly string[], _ctx: CallContext): Promise<DecryptOutcome[]> {
    return ciphertexts.map((c) => this.decryptOne(c));
  }

  async readKey(_ctx: CallContext): Promise<TransitKeyInfo> {
    return {
      latestVersion: this.versions.length,
      supportsEncryption: true,
      supportsDecryption: true,
      type: 'aes256-gcm96',
    };
  }

  private decryptOne(ciphertext: string): DecryptOutcome {
    const parts = splitVaultCiphertext(ciphertext);
    const key = parts ? this.versions[parts.version - 1] : undefined;
    if (!parts || !key) return { ok: false, error: new KmsError('invalid-ciphertext', 'ciphertext version is unknown to the dev backend') };
    const body = Buffer.from(parts.payload, 'base64');
    if (body.length < NONCE_BYTES + TAG_BYTES) return { ok: false, error: new KmsError('invalid-ciphertext', 'invalid ciphertext length') };
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)), decipher.final()]);
      return { ok: true, plaintext: plain };
    } catch {
      return { ok: false, error: new KmsError('invalid-ciphertext', 'message authentication failed') };
    }
  }
}
