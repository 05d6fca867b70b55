import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KmsError } from '../../../ports/errors';
import type { SecretSink } from '../../../ports/logger.port';

/** A client certificate (chain) and its private key, as PEM text. */
interface ClientIdentity {
  readonly cert: string;
  readonly key: string;
  /** The leaf certificate's subject and expiry, for messages (never the key). */
  readonly subject: string;
  readonly validTo: Date;
}

export type ClientIdentityFiles =
  | { readonly kind: 'pair'; readonly certFile: string; readonly keyFile: string }
  | { readonly kind: 'combined'; readonly pemFile: string };

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const KEY_TYPES = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

/**
 * Reads the certificate and key from their files (read again for every login:
 * the kubelet replaces kubelet-client-current.pem when it rotates), and checks
 * that they belong together before any of it is sent. Errors name the flag and
 * the file, never the key. `onSecret` receives the key as soon as it is read.
 */
export async function readClientIdentity(files: ClientIdentityFiles, onSecret: SecretSink, now: Date = new Date()): Promise<ClientIdentity> {
  const certFlag = files.kind === 'combined' ? '-cert-pem' : '-cert-file';
  const keyFlag = files.kind === 'combined' ? '-cert-pem' : '-cert-key';
  const certPath = files.kind === 'combined' ? files.pemFile : files.certFile;
  const keyPath = files.kind === 'combined' ? files.pemFile : files.keyFile;
  const certText = await readPem(certPath, certFlag);
  const keyText = files.kind === 'combined' ? certText : await readPem(keyPath, keyFlag);
  const certBlocks = blocks(certText).filter((b) => b.type === 'CERTIFICATE');
  const keyBlocks = blocks(keyText).filter((b) => KEY_TYPES.has(b.type));
  for (const b of keyBlocks) registerKey(b.pem, onSecret);
  if (certBlocks.length === 0) throw new KmsError('failed-precondition', `${certFlag} file ${certPath} holds no CERTIFICATE block`);
  if (keyBlocks.length === 0) throw new KmsError('failed-precondition', `${keyFlag} file ${keyPath} holds no PRIVATE KEY block`);
  if (keyBlocks.length > 1) throw new KmsError('failed-precondition', `${keyFlag} file ${keyPath} holds ${keyBlocks.length} private keys; give exactly one`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certBlocks[0].pem);
  } catch {
    throw new KmsError('failed-precondition', `${certFlag} file ${certPath}: the first CERTIFICATE block is not a valid X.509 certificate`);
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(keyBlocks[0].pem));
  } catch {
    throw new KmsError('failed-precondition', `${keyFlag} file ${keyPath}: the private key cannot be read (encrypted keys are not supported)`);
  }
  if (!matches) {
    throw new KmsError('failed-precondition', `${keyFlag} file ${keyPath}: the private key does not belong to the certificate in ${certPath} (a rotation half done?)`);
  }
  const validTo = new Date(leaf.validTo);
  if (validTo.getTime() < now.getTime()) {
    throw new KmsError('failed-precondition', `${certFlag} file ${certPath}: the certificate (${leaf.subject.replace(/\n/g, ', ')}) expired at ${validTo.toISOString()}`);
  }
  return { cert: certBlocks.map((b) => b.pem).join('\n'), key: keyBlocks[0].pem, subject: leaf.subject.replace(/\n/g, ', '), validTo };
}

async function readPem(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new KmsError('failed-precondition', `cannot read ${flag} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function blocks(text: string): { type: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1], pem: `${m[0]}\n` }));
}

/** The key as a whole, and its base64 body on one line: either form could end up in a message. */
function registerKey(pem: string, onSecret: SecretSink): void {
  onSecret(pem.trim(), 'operator');
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  onSecret(body, 'operator');
}
