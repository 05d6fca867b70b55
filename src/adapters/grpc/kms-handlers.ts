import { KmsError } from '../../domain/model/errors';
import type { KmsServicePort } from '../../ports/kms-service.port';
import type { v1beta1, v2 } from './generated/kms-proto';
import type { KmsV1Handlers, KmsV2Handlers } from './kms-messages';
import { unary, type CallDeps } from './unary-call';

/**
 * Thin translators from the KMS wire messages to the KMS service port. v1 is
 * "v2 without key_id"; neither holds policy. Every answer is typed by the
 * message generated from proto/, so a misspelled field does not compile.
 */
export function kmsV2Handlers(kms: KmsServicePort, deps: CallDeps): KmsV2Handlers {
  return {
    Status: unary('v2', 'status', deps, async (): Promise<v2.IStatusResponse> => {
      const s = kms.status();
      return { version: s.version, healthz: s.healthz, key_id: s.keyId };
    }, undefined, false),
    Encrypt: unary('v2', 'encrypt', deps, async (req: v2.EncryptRequest, ctx): Promise<v2.IEncryptResponse> => {
      const r = await kms.encrypt(req.plaintext, ctx);
      return { ciphertext: r.ciphertext, key_id: r.keyId, annotations: {} };
    }, (r) => r.uid),
    Decrypt: unary('v2', 'decrypt', deps, async (req: v2.DecryptRequest, ctx): Promise<v2.IDecryptResponse> => {
      const plaintext = await kms.decrypt({ ciphertext: req.ciphertext, keyId: req.key_id, annotations: new Map(Object.entries(req.annotations ?? {})) }, ctx);
      return { plaintext };
    }, (r) => r.uid),
  };
}

export const V1_API_VERSION = 'v1beta1';

export function kmsV1Handlers(kms: KmsServicePort, deps: CallDeps, runtimeVersion: string): KmsV1Handlers {
  const checkVersion = (v: string) => {
    if (v !== '' && v !== V1_API_VERSION) throw new KmsError('invalid-argument', `unsupported KMS API version "${v.slice(0, 32)}", only ${V1_API_VERSION} is served`);
  };
  return {
    Version: unary('v1', 'version', deps, async (): Promise<v1beta1.IVersionResponse> => ({ version: V1_API_VERSION, runtime_name: 'vault', runtime_version: runtimeVersion }), undefined, false),
    Encrypt: unary('v1', 'encrypt', deps, async (req: v1beta1.EncryptRequest, ctx): Promise<v1beta1.IEncryptResponse> => {
      checkVersion(req.version);
      const r = await kms.encrypt(req.plain, ctx);
      return { cipher: r.ciphertext };
    }),
    Decrypt: unary('v1', 'decrypt', deps, async (req: v1beta1.DecryptRequest, ctx): Promise<v1beta1.IDecryptResponse> => {
      checkVersion(req.version);
      return { plain: await kms.decrypt({ ciphertext: req.cipher }, ctx) };
    }),
  };
}
