import type { PluginConfig } from './config';

/** The file SIGHUP reads again before logging in: the one the configured login reads its credential from. */
export function credentialFile(c: PluginConfig): string | undefined {
  if (c.auth.method === 'token') return c.auth.tokenFile;
  if (c.auth.method === 'approle') return c.auth.secretIdFile;
  if (c.auth.method === 'userpass') return c.auth.passwordFile;
  if (c.auth.method === 'cert') return c.auth.files.kind === 'combined' ? c.auth.files.pemFile : c.auth.files.certFile;
  if (c.auth.method === 'jwt' && c.auth.source.kind === 'file') return c.auth.source.path;
  return undefined;
}

/** The files that hold a credential (the client certificate itself is public; its key is not), with their flags. */
export function secretFiles(c: PluginConfig): { flag: string; path: string }[] {
  const auth = c.auth;
  if (auth.method === 'token' && auth.tokenFile) return [{ flag: '-token-file', path: auth.tokenFile }];
  if (auth.method === 'approle' && auth.secretIdFile) return [{ flag: '-approle-secret-id-file', path: auth.secretIdFile }];
  if (auth.method === 'userpass' && auth.passwordFile) return [{ flag: '-userpass-password-file', path: auth.passwordFile }];
  if (auth.method === 'cert') return [auth.files.kind === 'combined' ? { flag: '-cert-pem', path: auth.files.pemFile } : { flag: '-cert-key', path: auth.files.keyFile }];
  if (auth.method === 'jwt' && auth.source.kind === 'file') return [{ flag: '-jwt-token-path', path: auth.source.path }];
  return [];
}

/** Every address of -vault-address (the dev backend has none). */
export function vaultAddresses(c: PluginConfig): readonly string[] {
  return c.dev ? [] : (c.vault.addresses ?? [c.vault.address]);
}
