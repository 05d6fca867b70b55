import { constants as fs, type Stats } from 'node:fs';
import { access, lstat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';

/** What a KMS plugin's Status (v2) or Version (v1beta1) answered, or why it did not. */
export type SocketStatusAnswer = { readonly answered: true; readonly text: string } | { readonly answered: false; readonly error: string };

interface SocketVerdict {
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

/**
 * Whether the plugin could serve at `path`, judged the way it decides at
 * start-up, without changing anything: the doctor never creates, removes or
 * replaces a file. A live listener is asked its KMS Status: a plugin that
 * answers is the one already serving (check run beside it), which passes.
 */
export async function checkSocketPath(path: string, forceOverwrite: boolean, askStatus?: (path: string) => Promise<SocketStatusAnswer>): Promise<SocketVerdict> {
  const full = resolve(path);
  const dir = dirname(full);
  const dirStat = await lstatOrUndefined(dir);
  if (!dirStat) return missingDirectory(dir);
  if (dirStat.isSymbolicLink()) return fail(`the directory ${dir} is a symlink, which the plugin refuses`, 'give the real directory in -socket (VAULT_KMS_SOCKET)');
  if (!dirStat.isDirectory()) return fail(`${dir} is not a directory`, `give a directory in -socket (VAULT_KMS_SOCKET), or remove the file ${dir}`);
  if (dirStat.mode & 0o002 && !(dirStat.mode & 0o1000)) {
    return fail(`the directory ${dir} is writable by every user (mode ${modeOf(dirStat)}), which the plugin refuses`, `use a directory of its own: mkdir -m 0700 <dir>, or chmod o-w ${dir}`);
  }
  if (!(await canWrite(dir))) return fail(`the directory ${dir} is not writable by this user (uid ${process.getuid?.() ?? '?'})`, `run the plugin as a user that may write ${dir}, or change its owner or mode`);

  const st = await lstatOrUndefined(full);
  if (!st) return { ok: true, detail: `${full}: the directory exists and is writable; no file there yet` };
  if (st.isSocket()) {
    const answer = await probe(full);
    if (answer === 'listening') {
      const status = askStatus ? await askStatus(full) : { answered: false as const, error: 'not asked' };
      if (status.answered) return { ok: true, detail: `a KMS plugin is already serving ${full} and answers Status (${status.text}): checked beside the running plugin` };
      return fail(
        `a process is listening on ${full} but does not answer as a KMS plugin (${status.error}); the plugin would not start there`,
        'stop that process, or give this plugin another -socket (VAULT_KMS_SOCKET)',
      );
    }
    if (answer === 'ECONNREFUSED') return { ok: true, detail: `${full}: a stale socket nobody listens on; the plugin will replace it` };
    return fail(`cannot tell whether the socket at ${full} is stale (connecting gave ${answer}); the plugin keeps it`, `if no plugin runs, remove ${full} yourself`);
  }
  const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'regular file' : 'special file';
  if ((st.isFile() || st.isSymbolicLink()) && forceOverwrite) {
    return { ok: true, detail: `${full}: a ${kind} the plugin will replace (-force-socket-overwrite)` };
  }
  if (st.isFile() || st.isSymbolicLink()) {
    return fail(`a ${kind} is at ${full}; the plugin does not replace it (left untouched)`, `remove it if it is not needed, or pass -force-socket-overwrite (FORCE_SOCKET_OVERWRITE), or use another -socket`);
  }
  return fail(`a ${kind} is at ${full}; the plugin never replaces one`, 'use another -socket (VAULT_KMS_SOCKET)');
}

/** The plugin creates a missing directory (mode 0700) if its nearest existing ancestor lets it. */
async function missingDirectory(dir: string): Promise<SocketVerdict> {
  let ancestor = dirname(dir);
  for (;;) {
    const st = await lstatOrUndefined(ancestor);
    if (st) {
      if (st.isDirectory() && (await canWrite(ancestor))) {
        return { ok: true, detail: `the directory ${dir} does not exist; the plugin will create it (mode 0700) in ${ancestor}` };
      }
      const why = st.isDirectory() ? `${ancestor} is not writable by this user` : `${ancestor} is not a directory`;
      return fail(`the directory ${dir} does not exist and cannot be created (${why})`, `create ${dir} (mode 0700) or mount it (hostPath), or give another -socket (VAULT_KMS_SOCKET)`);
    }
    if (ancestor === dirname(ancestor)) return fail(`the directory ${dir} does not exist`, `create ${dir}`);
    ancestor = dirname(ancestor);
  }
}

function fail(detail: string, fix: string): SocketVerdict {
  return { ok: false, detail, fix };
}

function modeOf(st: Stats): string {
  return `0${(st.mode & 0o7777).toString(8)}`;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

async function canWrite(p: string): Promise<boolean> {
  try {
    await access(p, fs.W_OK | fs.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** 'listening', or the error code connecting gave ('ECONNREFUSED': nobody listens). */
function probe(path: string): Promise<string> {
  return new Promise((done) => {
    const s = connect({ path });
    const finish = (v: string) => {
      s.destroy();
      done(v);
    };
    s.setTimeout(1000, () => finish('listening'));
    s.once('connect', () => finish('listening'));
    s.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'an error'));
  });
}
