import { statSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { KmsError } from '../../../ports/errors';

/** A credential kept in a file (-token-file, -approle-secret-id-file), read again at every login. */
export async function readSecretFile(path: string, flag: string): Promise<string> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (text === '') throw new KmsError('failed-precondition', `${flag} file ${path} is empty`);
    return text;
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw new KmsError('failed-precondition', `cannot read ${flag} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * Why a credential file is exposed, or undefined when it is not: readable or
 * writable by group or others, or owned by another user than the one the
 * plugin runs as (that user can replace the credential). Undefined too when
 * the file cannot be looked at (reading it reports that).
 */
export function credentialFileExposure(path: string, uid: number | undefined = process.getuid?.()): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  const problems: string[] = [];
  const mode = st.mode & 0o777;
  const who = (other: number) => (mode & other ? 'every user' : 'its group');
  const access = [mode & 0o044 ? `readable by ${who(0o004)}` : '', mode & 0o022 ? `writable by ${who(0o002)}` : ''].filter(Boolean);
  if (access.length > 0) problems.push(`${access.join(' and ')} (mode 0${mode.toString(8)})`);
  if (uid !== undefined && st.uid !== uid) problems.push(`owned by uid ${st.uid}, not by this process's uid ${uid}`);
  return problems.length > 0 ? problems.join(', ') : undefined;
}
