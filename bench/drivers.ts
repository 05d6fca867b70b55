import { KmsLoadClient } from './kms-load-client';
import type { VaultDirect } from './vault-direct';

/**
 * What the scenarios call. For the two KMS plugins these are real gRPC calls
 * over the plugin's unix socket; for the floor they are the same Transit
 * operations sent straight to Vault over HTTP by the bench process.
 */
export interface Driver {
  /** KMS v2 Encrypt; returns the ciphertext bytes. */
  encrypt(plaintext: Buffer): Promise<Buffer>;
  /** KMS v2 Decrypt. */
  decrypt(ciphertext: Buffer): Promise<Buffer>;
  /** KMS v1beta1 Decrypt. */
  v1Decrypt(ciphertext: Buffer): Promise<Buffer>;
  /** KMS v2 Status; throws unless healthz is "ok" and key_id is set. */
  status(): Promise<void>;
  close(): void;
}

export class GrpcDriver implements Driver {
  constructor(private readonly client: KmsLoadClient) {}

  async encrypt(plaintext: Buffer): Promise<Buffer> {
    const r = await this.client.encrypt(plaintext);
    if (r.keyId === '') throw new Error('Encrypt returned an empty key_id');
    return r.ciphertext;
  }

  decrypt(ciphertext: Buffer): Promise<Buffer> {
    return this.client.decrypt(ciphertext, '1');
  }

  v1Decrypt(ciphertext: Buffer): Promise<Buffer> {
    return this.client.v1Decrypt(ciphertext);
  }

  async status(): Promise<void> {
    const s = await this.client.status();
    if (s.healthz !== 'ok' || s.keyId === '' || s.version !== 'v2') throw new Error(`Status ${JSON.stringify(s)}`);
  }

  close(): void {
    this.client.close();
  }
}

export class FloorDriver implements Driver {
  constructor(private readonly vault: VaultDirect) {}

  async encrypt(plaintext: Buffer): Promise<Buffer> {
    return Buffer.from(await this.vault.encrypt(plaintext), 'latin1');
  }

  decrypt(ciphertext: Buffer): Promise<Buffer> {
    return this.vault.decrypt(ciphertext.toString('latin1'));
  }

  v1Decrypt(ciphertext: Buffer): Promise<Buffer> {
    return this.vault.decrypt(ciphertext.toString('latin1'));
  }

  async status(): Promise<void> {
    if (!(await this.vault.readKey() >= 1)) throw new Error('key read returned no latest_version');
  }

  close(): void {
    void this.vault.close();
  }
}
