import { credentials, makeGenericClientConstructor, Metadata, status as grpcStatus, type Client, type ServiceError } from '@grpc/grpc-js';
import { KMS_V1_SERVICE, KMS_V2_SERVICE } from './kms-messages';

/**
 * The client side of the KMS services on a unix socket, for the debug client
 * (`vault-kubernetes-kms client`): it dials as kube-apiserver does (h2c,
 * :authority "localhost", a deadline on every call).
 */
export class KmsSocketClient {
  private readonly client: Client;

  constructor(
    socketPath: string,
    private readonly api: 'v2' | 'v1',
    private readonly timeoutMs: number,
  ) {
    const Ctor = makeGenericClientConstructor(api === 'v2' ? KMS_V2_SERVICE : KMS_V1_SERVICE, 'KeyManagementService');
    this.client = new Ctor(`unix:${socketPath}`, credentials.createInsecure(), { 'grpc.default_authority': 'localhost' });
  }

  /** v2 Status, or v1 Version. */
  async status(): Promise<Record<string, unknown>> {
    return this.api === 'v2' ? this.call('Status', {}) : this.call('Version', { version: 'v1beta1' });
  }

  async encrypt(plaintext: Buffer, uid: string): Promise<{ ciphertext: Buffer; keyId?: string; annotations: Record<string, Buffer> }> {
    if (this.api === 'v1') {
      const r = await this.call<{ cipher: Buffer }>('Encrypt', { version: 'v1beta1', plain: plaintext });
      return { ciphertext: r.cipher, annotations: {} };
    }
    const r = await this.call<{ ciphertext: Buffer; key_id: string; annotations?: Record<string, Buffer> }>('Encrypt', { plaintext, uid });
    return { ciphertext: r.ciphertext, keyId: r.key_id, annotations: r.annotations ?? {} };
  }

  async decrypt(ciphertext: Buffer, keyId: string, uid: string): Promise<Buffer> {
    if (this.api === 'v1') return (await this.call<{ plain: Buffer }>('Decrypt', { version: 'v1beta1', cipher: ciphertext })).plain;
    return (await this.call<{ plaintext: Buffer }>('Decrypt', { ciphertext, key_id: keyId, uid, annotations: {} })).plaintext;
  }

  close(): void {
    this.client.close();
  }

  private call<T = Record<string, unknown>>(method: string, req: unknown): Promise<T> {
    type Unary = (req: unknown, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r: unknown) => void) => void;
    const fn = (this.client as unknown as Record<string, Unary>)[method].bind(this.client);
    return new Promise((resolve, reject) =>
      fn(req, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (e, r) => (e ? reject(new KmsCallError(method, e)) : resolve(r as T))),
    );
  }
}

/** A failed call: the RPC, the gRPC code's name and the server's message. */
class KmsCallError extends Error {
  readonly code: string;
  constructor(readonly rpc: string, e: ServiceError) {
    const code = grpcStatus[e.code] ?? String(e.code);
    super(`${rpc} failed: ${code}: ${e.details}`);
    this.name = 'KmsCallError';
    this.code = code;
  }
}
