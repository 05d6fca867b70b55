import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { asKmsError, type KmsErrorKind } from '../../ports/errors';

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

export function toServiceError(e: unknown): Partial<ServiceError> & { code: status } {
  const err = asKmsError(e);
  return { code: CODE_BY_KIND[err.kind], details: err.message, message: err.message, metadata: new Metadata() };
}
