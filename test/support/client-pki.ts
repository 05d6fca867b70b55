import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway client CA and client certificates (EC P-256 with a SEC1 key,
 * extendedKeyUsage clientAuth, as the kubelet's), made with the openssl CLI like test-pki.ts,
 * for Vault's TLS certificate auth method.
 */
export interface ClientCa {
  readonly dir: string;
  readonly caFile: string;
  readonly caPem: string;
  issue(commonName: string): ClientCert;
}

export interface ClientCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** Certificate and key in one file, the layout of kubelet-client-current.pem. */
  readonly pemFile: string;
  readonly keyPem: string;
}

const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

export function makeClientCa(name = 'client-ca'): ClientCa {
  const dir = mkdtempSync(join(tmpdir(), 'kms-client-pki-'));
  const f = (n: string) => join(dir, n);
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', f('ca.key'), '-out', f('ca.crt'));
  writeFileSync(f('client-ext.cnf'), 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  let serial = 0;
  return {
    dir,
    caFile: f('ca.crt'),
    caPem: readFileSync(f('ca.crt'), 'utf8'),
    issue(commonName: string): ClientCert {
      const base = f(`${commonName}-${++serial}`);
      // A SEC1 "EC PRIVATE KEY", the form the kubelet writes.
      ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`);
      ssl('req', '-new', '-key', `${base}.key`, '-subj', `/O=system:nodes/CN=${commonName}`, '-out', `${base}.csr`);
      ssl('x509', '-req', '-in', `${base}.csr`, '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('client-ext.cnf'), '-out', `${base}.crt`);
      const keyPem = readFileSync(`${base}.key`, 'utf8');
      // The kubelet writes the certificate first, then the key.
      writeFileSync(`${base}.pem`, readFileSync(`${base}.crt`, 'utf8') + keyPem, { mode: 0o600 });
      return { certFile: `${base}.crt`, keyFile: `${base}.key`, pemFile: `${base}.pem`, keyPem };
    },
  };
}
