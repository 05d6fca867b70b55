import { readFileSync, writeFileSync } from 'node:fs';

/**
 * What other processes on the node can learn of the plugin's secrets without
 * being root: its command line (`/proc/<pid>/cmdline` is world-readable) and a
 * core dump (written by the kernel, often to a place other users or a crash
 * collector can read, with the whole heap, the Vault token included).
 */

/**
 * The flags whose value is a credential: the `secret: true` options of the
 * configuration's table (a unit test keeps the two equal; this module cannot
 * import the config adapter, and runs before it loads).
 */
export const SECRET_FLAGS: ReadonlySet<string> = new Set(['token', 'approle-secret-id', 'userpass-password']);

/** Shown instead of a secret flag's value in the process title. */
export const HIDDEN_VALUE = '[hidden]';

interface SecretArguments {
  /** The secret flags given on the command line, by name (without dashes), in order, once each. */
  readonly flags: readonly string[];
  /** The arguments with every secret flag's value replaced by HIDDEN_VALUE. */
  readonly masked: readonly string[];
}

/**
 * Finds the values of secret flags in Go-flag syntax (`-f=v`, `--f=v`, `-f v`).
 * Other arguments are kept as they are, except everything after `--`, and the
 * argument after an empty `-token=` (the stray secret of `-token= s.SECRET`).
 */
export function findSecretArguments(argv: readonly string[], secretFlags: ReadonlySet<string>): SecretArguments {
  const flags: string[] = [];
  const masked: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      masked.push(arg, ...argv.slice(i + 1).map(() => HIDDEN_VALUE));
      break;
    }
    const m = /^(--?)([^=]+)(=(.*))?$/s.exec(arg);
    if (!m || !secretFlags.has(m[2])) {
      masked.push(arg);
      continue;
    }
    if (!flags.includes(m[2])) flags.push(m[2]);
    masked.push(m[3] === undefined ? arg : `${m[1]}${m[2]}=${HIDDEN_VALUE}`);
    // `-f v`, and `-f= v` (a space after "="): the next argument is the secret.
    if ((m[3] === undefined || m[4] === '') && i + 1 < argv.length) {
      masked.push(HIDDEN_VALUE);
      i++;
    }
  }
  return { flags, masked };
}

/**
 * Rewrites the process title, which on Linux is the memory /proc/<pid>/cmdline
 * shows (libuv writes over the original argv area and zeroes the rest), so a
 * secret flag stops being readable by other users. process.argv keeps its own
 * copy. The secret was readable from exec until this runs: the warning at
 * start-up says so and names the file form.
 */
export function hideSecretArguments(programName: string, argv: readonly string[], secretFlags: ReadonlySet<string>): SecretArguments {
  const found = findSecretArguments(argv, secretFlags);
  if (found.flags.length > 0 || found.masked.some((a) => a === HIDDEN_VALUE)) process.title = [programName, ...found.masked].join(' ');
  return found;
}

/**
 * Keeps the heap out of core dumps. Node cannot call prctl(PR_SET_DUMPABLE) or
 * setrlimit(RLIMIT_CORE) without native code, but the kernel lets a process
 * choose which of its mappings a dump contains: /proc/self/coredump_filter.
 * 0 leaves out every anonymous and file-backed mapping (the V8 heap, the
 * stacks, malloc's arenas), so a dump after SIGABRT or V8's out-of-memory abort
 * holds only ELF headers and register notes, never the token. Inherited by
 * child processes. Returns the error code when the file cannot be written
 * (no /proc, or a kernel without it).
 */
export function excludeMemoryFromCoreDumps(path = '/proc/self/coredump_filter'): string | undefined {
  try {
    writeFileSync(path, '0');
    return parseInt(readFileSync(path, 'utf8').trim(), 16) === 0 ? undefined : 'ENOTSUP';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
}
