import { isAbsolute, resolve } from 'node:path';
import { KmsError } from '../../ports/errors';

const WHERE = '-jwt-spiffe-endpoint (VAULT_KMS_JWT_SPIFFE_ENDPOINT, default SPIFFE_ENDPOINT_SOCKET)';

/**
 * The unix socket path of a SPIFFE Workload API endpoint. The SPIFFE spec
 * writes the address as a URI, `unix:///run/spire/agent.sock`; `unix:/path`
 * (the same URI without the empty authority) and a bare path are accepted too,
 * as operators write them. The spec's other form, `tcp://<ip>:<port>`, is
 * refused: the plugin talks to a node-local agent, whose socket is the
 * workload attestation (the agent identifies the caller by its peer process).
 */
export function workloadSocketPath(endpoint: string): string {
  const text = endpoint.trim();
  if (text === '') throw new KmsError('failed-precondition', `no SPIFFE Workload API endpoint: set ${WHERE}`);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) return isAbsolute(text) ? text : resolve(text);
  const scheme = text.slice(0, text.indexOf(':')).toLowerCase();
  if (scheme !== 'unix') {
    throw new KmsError('failed-precondition', `SPIFFE Workload API endpoint ${JSON.stringify(text)} in ${WHERE}: only unix sockets are supported (unix:///path/to/agent.sock)`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KmsError('failed-precondition', `SPIFFE Workload API endpoint ${JSON.stringify(text)} in ${WHERE} is not a valid URI`);
  }
  if (url.host !== '' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new KmsError(
      'failed-precondition',
      `SPIFFE Workload API endpoint ${JSON.stringify(text)} in ${WHERE}: a unix URI carries only an absolute path (unix:///path/to/agent.sock), no host, query or fragment`,
    );
  }
  const path = decodeURIComponent(url.pathname);
  if (!text.slice(5).startsWith('/') || path === '/' || path === '') {
    throw new KmsError('failed-precondition', `SPIFFE Workload API endpoint ${JSON.stringify(text)} in ${WHERE}: the socket path must be absolute (unix:///path/to/agent.sock)`);
  }
  return path;
}
