import { Metadata, status, type ServerUnaryCall, type ServiceError, type handleUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { NO_DEADLINE, callerCancelled, deadlineExceeded, type CallContext } from '../../ports/call-context';
import { KmsError, asKmsError, type KmsErrorKind } from '../../ports/errors';
import type { LoggerPort } from '../../ports/logger.port';
import type { KmsServicePort } from '../../ports/kms-service.port';
import type { KmsApiVersion, KmsOperation, MetricsPort } from '../../ports/metrics.port';
import type { v1beta1, v2 } from './generated/kms-proto';
import { PROCESS_IN_FLIGHT as IN_FLIGHT, requestBytes, truncateUid } from './grpc-server';
import { MalformedRequest, type KmsV1Handlers, type KmsV2Handlers } from './kms-messages';

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

interface CallDeps {
  readonly log: LoggerPort;
  readonly metrics: MetricsPort;
}

/**
 * Adapts one domain operation to a grpc-js unary handler: turns the caller's
 * deadline and cancellation into the request's one AbortSignal (everything below
 * listens to it, so no backend work outlives the caller), maps errors to
 * precise status codes, and records the request for logs and metrics. It arms
 * no timer of its own: grpc-js already runs one for the call's deadline, which
 * answers DEADLINE_EXCEEDED and then emits 'cancelled' on the call, and that
 * event aborts it (with deadline-exceeded once the deadline has passed).
 */
function unary<Req, Res>(
  api: KmsApiVersion,
  op: KmsOperation,
  deps: CallDeps,
  handle: (req: Req, ctx: CallContext) => Promise<Res>,
  uidOf: (req: Req) => string = () => '',
  /** False for calls answered from memory (Status, Version): no deadline timer or cancellation wiring. */
  doesIo = true,
): handleUnaryCall<Req | MalformedRequest, Res> {
  return (call: ServerUnaryCall<Req | MalformedRequest, Res>, callback: sendUnaryData<Res>): void => {
    const held = doesIo ? requestBytes(call.request) : 0;
    if (doesIo && !IN_FLIGHT.tryAcquire(held)) {
      if (IN_FLIGHT.shouldReport(Date.now())) deps.log.warn('too much work in flight; answering RESOURCE_EXHAUSTED until some finishes', { api_version: api, operation: op });
      callback({ code: status.RESOURCE_EXHAUSTED, details: 'the plugin has too many requests in flight; retry later', metadata: new Metadata() });
      return;
    }
    const started = process.hrtime.bigint();
    const deadline = deadlineOf(call.getDeadline());
    const abort = doesIo ? new AbortController() : undefined;
    // grpc-js's deadline timer fires no earlier than the deadline, but Date.now() is in whole ms.
    const onCancel = () => abort?.abort(Date.now() >= deadline - DEADLINE_SLACK_MS ? deadlineExceeded() : callerCancelled());
    if (abort) call.once('cancelled', onCancel);
    const finish = (err: KmsError | undefined, res?: Res) => {
      if (doesIo) IN_FLIGHT.release(held);
      if (abort) call.removeListener('cancelled', onCancel);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const durationMs = Math.round(seconds * 1e5) / 100; // 0.01 ms: no float noise in the log
      deps.metrics.kmsRequest(api, op, err ? err.kind : 'success', seconds);
      const request = call.request;
      const uid = request instanceof MalformedRequest ? '' : truncateUid(uidOf(request));
      if (err) {
        deps.log.warn(`${api} ${op} failed`, { api_version: api, operation: op, uid, error_kind: err.kind, error: err.message, duration_ms: durationMs });
        callback(toServiceError(err));
      } else {
        if (deps.log.isDebugEnabled()) deps.log.debug(`${api} ${op} request`, { api_version: api, operation: op, uid, duration_ms: durationMs });
        callback(null, res);
      }
    };
    const request = call.request;
    if (request instanceof MalformedRequest) {
      finish(new KmsError('invalid-argument', request.reason));
      return;
    }
    // Answers from memory still get the deadline number (Status waits for the first health verdict within it).
    const ctx: CallContext = { deadline, signal: abort ? abort.signal : NO_DEADLINE.signal };
    handle(request, ctx).then(
      (res) => finish(undefined, res),
      (e) => {
        const err = asKmsError(e);
        if (err.kind === 'internal' && !(e instanceof KmsError)) deps.log.error('unexpected error in handler', { api_version: api, operation: op, error: String((e as Error)?.message ?? e).slice(0, 200) });
        finish(abort?.signal.aborted && err.kind !== 'invalid-argument' && Date.now() >= deadline ? new KmsError('deadline-exceeded', 'deadline exceeded') : err);
      },
    );
  };
}

const DEADLINE_SLACK_MS = 2;

function deadlineOf(d: Date | number): number {
  if (d instanceof Date) return d.getTime();
  return Number.isFinite(d) ? d : Number.POSITIVE_INFINITY;
}

/** Domain error kinds → gRPC codes, in one table. Nothing we understand becomes UNKNOWN. */
const CODE_BY_KIND: Record<KmsErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'invalid-ciphertext': status.INVALID_ARGUMENT,
  'permission-denied': status.PERMISSION_DENIED,
  unavailable: status.UNAVAILABLE,
  'deadline-exceeded': status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  'failed-precondition': status.FAILED_PRECONDITION,
  internal: status.INTERNAL,
};

function toServiceError(e: unknown): Partial<ServiceError> & { code: status } {
  const err = asKmsError(e);
  return { code: CODE_BY_KIND[err.kind], details: err.message, message: err.message, metadata: new Metadata() };
}
