import { chmod, lstat, mkdir, rename, unlink } from 'node:fs/promises';
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
 *    to replace; any other answer (a listener, EACCES on another user's
 *    socket, a timeout) means it is not ours: refuse;
 *  - a regular file or symlink is removed only if the operator said
 *    -force-socket-overwrite; a directory, FIFO or device node never is;
 *  - the directory we create is 0700; a parent directory that is a symlink,
 *    or that anyone may write without the sticky bit, is refused (someone else
 *    could swap our socket); a group-writable one is accepted with a warning;
 *  - on shutdown we remove the socket only if it is still the one we created.
 */
export class SocketFileError extends Error {}

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
