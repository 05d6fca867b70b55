import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { LoggerPort } from '../../ports/logger.port';

/** Where kube-apiserver finds us, the gRPC adapter's own setting. */
export interface SocketLocation {
  /** Filesystem path, or "@name" for a Linux abstract socket. */
  readonly path: string;
  readonly abstract: boolean;
}

/**
 * Everything about the socket's file-system entry. Rules:
 *  - a socket that refuses connections (ECONNREFUSED: left by a crash) is ours
 *    to replace; a listener or a timeout means it is not ours: refuse;
 *  - a socket we may not connect to (EACCES: another user's, typically root's
 *    left by the Go plugin killed during a migration) is replaced only with
 *    -force-socket-overwrite, only in a directory owned by our uid, and only if
 *    no process in our network namespace listens on that path (the kernel's
 *    /proc/net/unix); otherwise the error gives the command that fixes it;
 *  - a regular file or symlink is removed only if the operator said
 *    -force-socket-overwrite; a directory, FIFO or device node never is;
 *  - the directory we create is 0700; a parent directory that is a symlink,
 *    or that anyone may write without the sticky bit, is refused (someone else
 *    could swap our socket); a group-writable one is accepted with a warning;
 *  - on shutdown we remove the socket only if it is still the one we created.
 */
class SocketFileError extends Error {}

export interface OwnedSocket {
  readonly path: string;
  readonly abstract: boolean;
  readonly identity?: { dev: number; ino: number };
}

/**
 * Where to bind. A file socket is bound under a temporary name beside the
 * final path and renamed into place once it listens with the right mode, so
 * the path never names a socket that refuses connections or is too open.
 */
export function bindPathFor(loc: SocketLocation): string {
  return loc.abstract ? loc.path : join(dirname(resolve(loc.path)), `.kms-${process.pid}.sock`);
}

export function grpcAddressOf(loc: SocketLocation, bindPath: string): string {
  return loc.abstract ? `unix-abstract:${loc.path.slice(1)}` : `unix:${bindPath}`;
}

export async function prepareSocketPath(loc: SocketLocation, force: boolean, log: LoggerPort): Promise<void> {
  if (loc.abstract) return;
  const path = resolve(loc.path);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await checkParentDirectory(dirname(path), log);
  await checkDirectoryWritable(dirname(path));
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) return;
  if (st.isSocket()) {
    const probe = await probeSocket(path);
    if (probe === 'listening') {
      throw new SocketFileError(`another process is listening on ${path}; is another vault-kubernetes-kms instance running?`);
    }
    if (probe === 'EACCES') {
      await replaceUnreachableSocket(path, force, log);
      return;
    }
    if (probe !== 'ECONNREFUSED') {
      throw new SocketFileError(`cannot tell whether the socket at ${path} is stale (connecting gave ${probe}); it may belong to another user or process, so it is kept: remove it yourself if it is stale`);
    }
    await unlink(path);
    log.info('removed stale socket left by a previous run', { socket: path });
    return;
  }
  const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'regular file' : st.isFIFO() ? 'FIFO' : 'device node or other special file';
  if (!st.isSymbolicLink() && !st.isFile()) {
    throw new SocketFileError(`refusing to replace the ${kind} at ${path}, even with -force-socket-overwrite (it only replaces a regular file or a symlink)`);
  }
  if (!force) {
    throw new SocketFileError(`refusing to replace the ${kind} at ${path}; remove it or pass -force-socket-overwrite (FORCE_SOCKET_OVERWRITE)`);
  }
  await unlink(path);
  log.warn(`removed the existing ${kind} at the socket path (-force-socket-overwrite)`, { socket: path, kind });
}

/**
 * Another user's socket (mode without write for us): connecting gives EACCES,
 * so whether it is stale is asked of the kernel's list of listening sockets.
 * Unlinking needs write permission on the directory, not ownership of the file,
 * which is why a directory of our own is enough to replace it.
 */
async function replaceUnreachableSocket(path: string, force: boolean, log: LoggerPort): Promise<void> {
  const [st, dirSt] = await Promise.all([lstat(path), lstat(dirname(path))]);
  const me = process.getuid?.();
  const listening = await listeningSocketPaths();
  if (listening === undefined) {
    throw new SocketFileError(`cannot tell whether the socket at ${path} (uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}) is stale: this process (uid ${me}) may not connect to it and cannot read /proc/net/unix; if no plugin serves it, remove it on the node: rm ${path}`);
  }
  if (listening.has(path)) {
    throw new SocketFileError(`another process is listening on ${path} (uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}); is another vault-kubernetes-kms instance (or the Go plugin) running? Stop it first: the socket is kept, even with -force-socket-overwrite`);
  }
  if (!force) {
    throw new SocketFileError(
      `the socket at ${path} (uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}) is left by another user's process that is no longer listening (typically the Go plugin, which ran as root); this process (uid ${me}) may not connect to it, so it does not replace it on its own: remove it on the node (rm ${path}), or pass -force-socket-overwrite (FORCE_SOCKET_OVERWRITE)`,
    );
  }
  if (dirSt.uid !== me) {
    throw new SocketFileError(
      `-force-socket-overwrite replaces another user's socket only in a directory owned by this process's uid ${me}, and ${dirname(path)} belongs to uid ${dirSt.uid}: on the node, run: chown ${me}:${process.getgid?.()} ${dirname(path)} && chmod 0700 ${dirname(path)} && rm ${path}`,
    );
  }
  await unlink(path);
  log.warn("replaced another user's socket that no process listens on (-force-socket-overwrite)", { socket: path, socket_uid: st.uid });
}

/** Paths of the unix sockets listening in this network namespace, or undefined if the kernel does not say. */
async function listeningSocketPaths(): Promise<Set<string> | undefined> {
  const text = await readFile('/proc/net/unix', 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const out = new Set<string>();
  // "Num RefCount Protocol Flags Type St Inode Path"; Flags 00010000 is __SO_ACCEPTCON (listening).
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    if ((parseInt(fields[3], 16) & 0x10000) === 0) continue;
    out.add(fields.slice(7).join(' '));
  }
  return out;
}

/** Binding needs write and search permission on the directory; say which command gives it. */
async function checkDirectoryWritable(dir: string): Promise<void> {
  const ok = await access(dir, constants.W_OK | constants.X_OK).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'EACCES' || e.code === 'EPERM') return false;
      throw e;
    },
  );
  if (ok) return;
  const st = await lstat(dir);
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  throw new SocketFileError(
    `this process (uid ${uid}) may not create its socket in ${dir} (owner uid ${st.uid}, mode 0${(st.mode & 0o7777).toString(8)}): on the node, run: chown ${uid}:${gid} ${dir} && chmod 0700 ${dir}`,
  );
}

async function checkParentDirectory(dir: string, log: LoggerPort): Promise<void> {
  const st = await lstat(dir);
  if (st.isSymbolicLink()) {
    throw new SocketFileError(`the socket's directory ${dir} is a symlink; give the real directory in -socket`);
  }
  const mode = `0${(st.mode & 0o7777).toString(8)}`;
  if (st.mode & 0o002 && !(st.mode & 0o1000)) {
    throw new SocketFileError(`the socket's directory ${dir} is writable by every user (mode ${mode}): anyone could replace the socket; use a directory of its own, mode 0700`);
  }
  if (st.mode & 0o022) {
    log.warn("the socket's directory is writable by other users; a directory of its own with mode 0700 is safer", { directory: dir, mode });
  }
}

/** After bind: set the mode, move the socket into place, remember which inode is ours. */
export async function claimSocket(loc: SocketLocation, mode: number, bindPath: string): Promise<OwnedSocket> {
  if (loc.abstract) return { path: loc.path, abstract: true };
  const path = resolve(loc.path);
  await chmod(bindPath, mode);
  await rename(bindPath, path);
  const st = await lstat(path);
  return { path, abstract: false, identity: { dev: st.dev, ino: st.ino } };
}

export async function releaseSocket(owned: OwnedSocket, log: LoggerPort): Promise<void> {
  if (owned.abstract || !owned.identity) return;
  const st = await lstat(owned.path).catch(() => undefined);
  if (st && st.isSocket() && st.ino === owned.identity.ino && st.dev === owned.identity.dev) {
    await unlink(owned.path).catch(() => undefined);
    log.info('removed socket', { socket: owned.path });
  }
}

/** 'listening', or the error code connecting gave ('ECONNREFUSED' means nobody listens). */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolvePromise) => {
    const s = connect({ path });
    const done = (v: string) => {
      s.destroy();
      resolvePromise(v);
    };
    s.setTimeout(1000, () => done('listening'));
    s.once('connect', () => done('listening'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'an error'));
  });
}
