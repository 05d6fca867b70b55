import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { KmsError } from '../../domain/model/errors';
import type { KmsServicePort } from '../../domain/ports/kms-service.port';
import { unary, type CallDeps } from './unary-call';
import type { V1DecryptRequest, V1EncryptRequest, V2DecryptRequest, V2EncryptRequest } from './kms-messages';

/**
 * Thin translators from the KMS wire messages to the KMS service port. v1 is
 * "v2 without key_id"; neither holds policy.
 */
export function kmsV2Handlers(kms: KmsServicePort, deps: CallDeps): UntypedServiceImplementation {
  return {
    Status: unary('v2', 'status', deps, async () => {
      const s = kms.status();
      return { version: s.version, healthz: s.healthz, key_id: s.keyId };
    }, undefined, false),
    Encrypt: unary('v2', 'encrypt', deps, async (req: V2EncryptRequest, ctx) => {
      const r = await kms.encrypt(req.plaintext, ctx);
      return { ciphertext: r.ciphertext, key_id: r.keyId, annotations: {} };
    }, (r) => r.uid),
    Decrypt: unary('v2', 'decrypt', deps, async (req: V2DecryptRequest, ctx) => {
      const plaintext = await kms.decrypt({ ciphertext: req.ciphertext, keyId: req.key_id, annotations: new Map(Object.entries(req.annotations ?? {})) }, ctx);
      return { plaintext };
    }, (r) => r.uid),
  };
}

export const V1_API_VERSION = 'v1beta1';

export function kmsV1Handlers(kms: KmsServicePort, deps: CallDeps, runtimeVersion: string): UntypedServiceImplementation {
  const checkVersion = (v: string) => {
    if (v !== '' && v !== V1_API_VERSION) throw new KmsError('invalid-argument', `unsupported KMS API version "${v.slice(0, 32)}", only ${V1_API_VERSION} is served`);
  };
  return {
    Version: unary('v1', 'version', deps, async () => ({ version: V1_API_VERSION, runtime_name: 'vault', runtime_version: runtimeVersion }), undefined, false),
    Encrypt: unary('v1', 'encrypt', deps, async (req: V1EncryptRequest, ctx) => {
      checkVersion(req.version);
      const r = await kms.encrypt(req.plain, ctx);
      return { cipher: r.ciphertext };
    }),
    Decrypt: unary('v1', 'decrypt', deps, async (req: V1DecryptRequest, ctx) => {
      checkVersion(req.version);
      return { plain: await kms.decrypt({ ciphertext: req.cipher }, ctx) };
    }),
  };
}
