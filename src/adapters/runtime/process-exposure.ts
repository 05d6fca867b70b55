import { readFileSync, writeFileSync } from 'node:fs';

/**
 * What other processes on the node can learn of the plugin's secrets without
 * being root: its command line (`/proc/<pid>/cmdline` is world-readable) and a
 * core dump (written by the kernel, often to a place other users or a crash
 * collector can read, with the whole heap, the Vault token included).
 */

/** Shown instead of a secret flag's value in the process title. */
export const HIDDEN_VALUE = '[hidden]';

/** What the argument parser knows of the flags: which hold secrets, and which take a value (`-f v`). */
export interface FlagKinds {
  readonly secret: ReadonlySet<string>;
  takesValue(name: string): boolean;
}

export interface SecretArguments {
  /** The secret flags given on the command line, by name (without dashes), in order, once each. */
  readonly flags: readonly string[];
  /** The arguments with every secret flag's value replaced by HIDDEN_VALUE. */
  readonly masked: readonly string[];
}

/**
 * Finds the values of secret flags in Go-flag syntax (`-f=v`, `--f=v`, `-f v`).
 * Parsing stops at `--` or the first non-flag, as Go's does; a secret given
 * as a stray argument after that (`-token= s.SECRET`) is hidden too, since
 * everything after that point is masked.
 */
export function findSecretArguments(argv: readonly string[], kinds: FlagKinds): SecretArguments {
  const flags: string[] = [];
  const masked: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--' || !arg.startsWith('-') || arg === '-') {
      // Past the flags nothing is interpreted; hide it all rather than guess (the plugin refuses them anyway).
      masked.push(...argv.slice(i).map(() => HIDDEN_VALUE));
      break;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (!kinds.secret.has(name)) {
      masked.push(arg);
      // `-flag value`: the value is not a stray argument.
      if (eq < 0 && kinds.takesValue(name) && i + 1 < argv.length) masked.push(argv[++i]);
      continue;
    }
    if (!flags.includes(name)) flags.push(name);
    if (eq >= 0) {
      masked.push(`${arg.slice(0, arg.length - body.length)}${name}=${HIDDEN_VALUE}`);
    } else {
      masked.push(arg);
      if (i + 1 < argv.length) {
        masked.push(HIDDEN_VALUE);
        i++;
      }
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
export function hideSecretArguments(programName: string, argv: readonly string[], kinds: FlagKinds): SecretArguments {
  const found = findSecretArguments(argv, kinds);
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
