import { status, type ServiceError } from '@grpc/grpc-js';
import { outsideText } from '../../domain/model/outside-text';
import { KmsError } from '../../ports/errors';

/**
 * A failed FetchJWTSVID as the KmsError the auth layer understands. The agent's
 * own message (status details) is kept: it names the problem ("no identity
 * issued", a connect error) and never carries a token. The agent chose it, so
 * it is passed on as one bounded line of visible characters.
 */
export function workloadApiError(e: ServiceError, address: string, spiffeId: string | undefined): KmsError {
  const details = outsideText(e.details || e.message);
  const whose = spiffeId ? `the SPIFFE ID ${spiffeId}` : 'any SPIFFE ID';
  switch (e.code) {
    case status.UNAVAILABLE:
      return new KmsError(
        'unavailable',
        `SPIFFE Workload API at ${address} is not reachable (is the SPIFFE agent running, and its socket mounted into the plugin's container?): ${details}`,
      );
    case status.PERMISSION_DENIED:
      return new KmsError(
        'permission-denied',
        `the SPIFFE agent at ${address} issued no JWT-SVID for ${whose} to this process (${details}): ` +
          'no registration entry matches this workload (its selectors, e.g. unix:uid or k8s pod labels)' +
          (spiffeId ? ', or no matching entry has that SPIFFE ID' : '') +
          ', or the agent has not yet synced the entry from its server',
        { cause: e },
      );
    case status.INVALID_ARGUMENT:
      return new KmsError('failed-precondition', `the SPIFFE agent at ${address} rejected the JWT-SVID request: ${details}`, { cause: e });
    case status.DEADLINE_EXCEEDED:
      return new KmsError('deadline-exceeded', `the SPIFFE agent at ${address} did not answer in time`, { cause: e });
    case status.UNIMPLEMENTED:
      return new KmsError('failed-precondition', `${address} does not serve the SPIFFE Workload API (FetchJWTSVID is unimplemented there): ${details}`, { cause: e });
    default:
      return new KmsError('unavailable', `SPIFFE Workload API at ${address} failed: ${status[e.code] ?? e.code}: ${details}`, { cause: e });
  }
}
