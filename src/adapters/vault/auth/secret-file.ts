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
