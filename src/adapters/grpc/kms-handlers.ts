import { Metadata, status, type sendUnaryData } from '@grpc/grpc-js';
import { KmsError } from '../../ports/errors';
import type { LoggerPort } from '../../ports/logger.port';
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
    Status: unary('v2', 'status', deps, async (_req, ctx): Promise<v2.IStatusResponse> => {
      const s = await kms.status(ctx);
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

const V1_API_VERSION = 'v1beta1';

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

const V1_DISABLED_HINT = 'KMS v1beta1 is disabled in this plugin; start it with -disable-v1=false (VAULT_KMS_DISABLE_V1=false) to serve it';
/** How often at most the hint is logged: a v1 apiserver retries every call. */
const V1_DISABLED_LOG_INTERVAL_MS = 60_000;

/**
 * Stands in for the v1 service while -disable-v1 is in force (the seed's
 * default; the Go plugin v1.4.0 serves v1 by default): UNIMPLEMENTED with a
 * message naming the flag, and a log line at most once a minute, so an
 * operator who only swapped the image sees why v1 Secrets stopped reading.
 */
export function disabledV1Handlers(log: LoggerPort, now: () => number = Date.now): KmsV1Handlers {
  let lastLogged = Number.NEGATIVE_INFINITY;
  const refuse = <Res>(_call: unknown, callback: sendUnaryData<Res>): void => {
    if (now() - lastLogged >= V1_DISABLED_LOG_INTERVAL_MS) {
      lastLogged = now();
      log.warn('KMS v1 call refused: v1 is disabled; start with -disable-v1=false to serve it', { api_version: 'v1' });
    }
    callback({ code: status.UNIMPLEMENTED, details: V1_DISABLED_HINT, message: V1_DISABLED_HINT, metadata: new Metadata() });
  };
  return { Version: refuse, Encrypt: refuse, Decrypt: refuse };
}
