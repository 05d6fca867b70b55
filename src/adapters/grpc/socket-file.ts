import { chmod, lstat, mkdir, rename, rmdir, unlink } from 'node:fs/promises';
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
 *  - a socket nobody listens on (left by a crash) is ours to replace;
 *  - a live listener means another instance: refuse;
 *  - a regular file, symlink or directory is never removed unless the operator
 *    said -force-socket-overwrite (and a non-empty directory never is);
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
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) return;
  if (st.isSocket()) {
    if (await someoneListens(path)) {
      throw new SocketFileError(`another process is listening on ${path}; is another vault-kubernetes-kms instance running?`);
    }
    await unlink(path);
    log.info('removed stale socket left by a previous run', { socket: path });
    return;
  }
  const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'regular file' : 'special file';
  if (!force) {
    throw new SocketFileError(`refusing to replace the ${kind} at ${path}; remove it or pass -force-socket-overwrite (FORCE_SOCKET_OVERWRITE)`);
  }
  if (st.isDirectory()) {
    await rmdir(path).catch(() => {
      throw new SocketFileError(`refusing to delete the non-empty directory at ${path}, even with -force-socket-overwrite`);
    });
  } else {
    await unlink(path);
  }
  log.warn('removed existing file at the socket path (-force-socket-overwrite)', { socket: path, kind });
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

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const s = connect({ path });
    const done = (v: boolean) => {
      s.destroy();
      resolvePromise(v);
    };
    s.setTimeout(1000, () => done(true));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
