import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { KmsError } from '../../ports/errors';

const WHERE = '-jwt-spiffe-endpoint (VAULT_KMS_JWT_SPIFFE_ENDPOINT, default SPIFFE_ENDPOINT_SOCKET)';

/** Where the Workload API listens: the grpc-js target, and the address to name in messages. */
export interface WorkloadEndpoint {
  readonly target: string;
  readonly address: string;
}

function refuse(text: string, why: string): never {
  throw new KmsError('failed-precondition', `SPIFFE Workload API endpoint ${JSON.stringify(text)} in ${WHERE}: ${why}`);
}

/**
 * A SPIFFE Workload API endpoint as the SPIFFE spec writes it (a URI:
 * `unix:///run/spire/agent.sock`, or `tcp://<ip>:<port>`), plus what operators
 * write for a socket: `unix:/path` (the same URI without the empty authority)
 * and a bare path. A unix socket is the usual and the safer form: there the
 * agent identifies the caller by its peer process, which TCP cannot tell it.
 */
export function workloadEndpoint(endpoint: string): WorkloadEndpoint {
  const text = endpoint.trim();
  if (text === '') throw new KmsError('failed-precondition', `no SPIFFE Workload API endpoint: set ${WHERE}`);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) {
    const path = isAbsolute(text) ? text : resolve(text);
    return { target: `unix:${path}`, address: path };
  }
  const scheme = text.slice(0, text.indexOf(':')).toLowerCase();
  if (scheme !== 'unix' && scheme !== 'tcp') refuse(text, 'use unix:///path/to/agent.sock (or tcp://<ip>:<port>)');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse(text, 'not a valid URI');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') refuse(text, 'no user, query or fragment allowed');
  if (scheme === 'tcp') {
    // The spec allows only an IP address and a port here: no host name, no path.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) === 0 || url.port === '' || (url.pathname !== '' && url.pathname !== '/')) refuse(text, 'a tcp URI is tcp://<ip address>:<port>, nothing else');
    return { target: isIP(host) === 6 ? `ipv6:[${host}]:${url.port}` : `ipv4:${host}:${url.port}`, address: `tcp://${url.host}` };
  }
  if (url.host !== '') refuse(text, 'a unix URI carries only an absolute path (unix:///path/to/agent.sock), no host');
  const path = decodeURIComponent(url.pathname);
  if (!text.slice(5).startsWith('/') || path === '/' || path === '') refuse(text, 'the socket path must be absolute (unix:///path/to/agent.sock)');
  return { target: `unix:${path}`, address: path };
}
