import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { VaultClientSettings } from './vault-settings';

/** TLS settings from -vault-ca-cert and Vault's VAULT_* client variables; files are read once at start. */
export function buildTlsOptions(s: VaultClientSettings): ConnectionOptions {
  const opts: ConnectionOptions = { rejectUnauthorized: !s.skipVerify, minVersion: 'TLSv1.2' };
  const ca: string[] = [];
  if (s.caCertFile) ca.push(readFileSync(s.caCertFile, 'utf8'));
  else if (s.caPath) {
    for (const name of readdirSync(s.caPath)) {
      if (/\.(pem|crt)$/i.test(name)) ca.push(readFileSync(join(s.caPath, name), 'utf8'));
    }
  }
  if (ca.length > 0) opts.ca = ca;
  if (s.clientIdentity) {
    opts.cert = s.clientIdentity.cert;
    opts.key = s.clientIdentity.key;
  } else if (s.clientCertFile && s.clientKeyFile) {
    opts.cert = readFileSync(s.clientCertFile, 'utf8');
    opts.key = readFileSync(s.clientKeyFile, 'utf8');
  }
  if (s.tlsServerName) opts.servername = s.tlsServerName;
  return opts;
}
