import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** A process found holding a socket: its pid and what it runs. */
export interface SocketHolder {
  readonly pid: number;
  /** The program and its first argument unless that is a flag, cut short; never the whole command line (it may carry a -token=). */
  readonly command: string;
}

/**
 * Which processes hold a listening TCP socket on `port` (any local address),
 * found the way ss -p does: the socket's inode in /proc/net/tcp and tcp6, then
 * the /proc/<pid>/fd link that points at it. Empty when nothing listens there;
 * undefined when something listens but no visible process holds it (another
 * user's process, seen only by root), or on a system without /proc.
 */
export async function tcpListenerHolders(port: number): Promise<SocketHolder[] | undefined> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth field.
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1].split(':')[1] ?? '', 16) === port) inodes.add(f[9]);
    }
  }
  return holdersOf(inodes);
}

/**
 * Which processes hold the listening unix socket at `path` (/proc/net/unix).
 * The kernel keeps the name a socket was bound to: our plugin binds
 * `.kms-<pid>.sock` beside the path and renames it into place, so that name
 * counts too, when the pid in it is the holder's.
 */
export async function unixListenerHolders(path: string): Promise<SocketHolder[] | undefined> {
  const inodes = new Map<string, number | undefined>();
  const text = await readFile('/proc/net/unix', 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; flag 00010000 is __SO_ACCEPTCON (listening).
    if (f.length < 8 || (parseInt(f[3], 16) & 0x10000) === 0) continue;
    const bound = f.slice(7).join(' ');
    if (bound === path) inodes.set(f[6], undefined);
    const renamed = dirname(bound) === dirname(path) ? /^\.kms-([0-9]+)\.sock$/.exec(basename(bound)) : null;
    if (renamed) inodes.set(f[6], Number(renamed[1]));
  }
  const holders = await holdersOf(new Set(inodes.keys()));
  return holders?.filter((h) => [...inodes.entries()].some(([, pid]) => pid === undefined || pid === h.pid));
}

async function holdersOf(inodes: Set<string>): Promise<SocketHolder[] | undefined> {
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  const found: SocketHolder[] = [];
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((d) => /^[0-9]+$/.test(d));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (!wanted.has(target)) continue;
      found.push({ pid: Number(pid), command: await commandOf(pid) });
      break;
    }
  }
  return found.length > 0 ? found : undefined;
}

async function commandOf(pid: string): Promise<string> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  // The program, and its first argument when that is no flag (e.g. "node dist/src/main.js"): a flag may carry a credential.
  const [program, first] = raw.split('\0').filter(Boolean);
  const words = program === undefined ? [] : first === undefined || first.startsWith('-') ? [program] : [program, first];
  const text = words.length > 0 ? words.join(' ') : (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
  // Shown in a terminal: no control characters, and bounded.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 120);
}
