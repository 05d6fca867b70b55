import { credentials, makeGenericClientConstructor, type Client, type ServiceError, Metadata } from '@grpc/grpc-js';
import { KMS_V1_SERVICE, KMS_V2_SERVICE } from '../../src/adapters/grpc/kms-messages';
import { captureOutput } from './leak-capture';

/**
 * A KMS client over a real unix socket, for end-to-end tests and benchmarks.
 * It dials like kube-apiserver does (insecure h2c, chosen :authority, a
 * deadline on every call); the Go conformance suite uses kube-apiserver's own
 * client code on top of this.
 */
type Unary = (req: unknown, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r: unknown) => void) => void;

export interface KmsClientOptions {
  /** Default 3 s, the apiserver's default kms timeout. */
  readonly timeoutMs?: number;
  /** ":authority" to send; kube-apiserver ≥1.32 sends "localhost". */
  readonly authority?: string;
}

export class KmsTestClient {
  private readonly v2: Client;
  private readonly v1: Client;
  private readonly timeoutMs: number;

  constructor(socketPath: string, opts: KmsClientOptions = {}) {
    const channelOptions = { 'grpc.default_authority': opts.authority ?? 'localhost' };
    const V2 = makeGenericClientConstructor(KMS_V2_SERVICE, 'KeyManagementService');
    const V1 = makeGenericClientConstructor(KMS_V1_SERVICE, 'KeyManagementService');
    this.v2 = new V2(`unix:${socketPath}`, credentials.createInsecure(), channelOptions);
    this.v1 = new V1(`unix:${socketPath}`, credentials.createInsecure(), channelOptions);
    this.timeoutMs = opts.timeoutMs ?? 3000;
  }

  private call<T>(client: Client, method: string, req: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const fn = (client as unknown as Record<string, Unary>)[method].bind(client);
    return new Promise((resolve, reject) =>
      fn(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => {
        if (e) {
          captureOutput('grpc-error', `${e.code} ${e.details}`);
          reject(e);
        } else resolve(r as T);
      }),
    );
  }

  async status(timeoutMs?: number) {
    const s = await this.call<{ version: string; healthz: string; key_id: string }>(this.v2, 'Status', {}, timeoutMs);
    if (s.healthz !== 'ok') captureOutput('status-healthz', s.healthz);
    return s;
  }
  encrypt(plaintext: Uint8Array, uid = 'test-uid', timeoutMs?: number) {
    return this.call<{ ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> }>(this.v2, 'Encrypt', { plaintext: Buffer.from(plaintext), uid }, timeoutMs);
  }
  decrypt(ciphertext: Uint8Array, keyId = '', annotations: Record<string, Buffer> = {}, timeoutMs?: number) {
    return this.call<{ plaintext: Buffer }>(this.v2, 'Decrypt', { ciphertext: Buffer.from(ciphertext), uid: 'test-uid', key_id: keyId, annotations }, timeoutMs);
  }
  v1Version() {
    return this.call<{ version: string; runtime_name: string; runtime_version: string }>(this.v1, 'Version', { version: 'v1beta1' });
  }
  v1Encrypt(plain: Uint8Array, timeoutMs?: number) {
    return this.call<{ cipher: Buffer }>(this.v1, 'Encrypt', { version: 'v1beta1', plain: Buffer.from(plain) }, timeoutMs);
  }
  v1Decrypt(cipher: Uint8Array, timeoutMs?: number) {
    return this.call<{ plain: Buffer }>(this.v1, 'Decrypt', { version: 'v1beta1', cipher: Buffer.from(cipher) }, timeoutMs);
  }

  close(): void {
    this.v2.close();
    this.v1.close();
  }
}
