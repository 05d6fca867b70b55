import { Metadata, status, type ServerUnaryCall, type handleUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { NO_DEADLINE, callerCancelled, deadlineExceeded, type CallContext } from '../../ports/call-context';
import { KmsError, asKmsError } from '../../ports/errors';
import type { LoggerPort } from '../../ports/logger.port';
import type { KmsApiVersion, KmsOperation, MetricsPort } from '../../ports/metrics.port';
import { toServiceError } from './grpc-status';
import { MalformedRequest } from './kms-messages';
import { PROCESS_IN_FLIGHT as IN_FLIGHT, requestBytes, truncateUid } from './in-flight-limit';

export interface CallDeps {
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
export function unary<Req, Res>(
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
