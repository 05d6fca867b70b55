/**
 * Translates Go `flag`-package syntax (what the static-Pod manifests use:
 * `-flag=value`, `--flag=value`, `-flag value`, bare boolean `-flag`,
 * `-flag=false`) into one canonical `--flag=value` token per option, which
 * the command-line parser (yargs, command-line.ts) then reads strictly.
 * Unknown flags are passed through unchanged so yargs reports them by name.
 */
export interface NormalizedArgs {
  readonly tokens: string[];
  /** The index in argv of the argument each token came from (a value after a space is the argument after it). */
  readonly origins: number[];
  /** The index in argv where the flags ended (`stop`): the first other argument, or `--`. */
  readonly end: number;
  /** Arguments that are not flags: after the flags (Go stops parsing there), or among them (`interleaved`). */
  readonly positional: string[];
}

/** A flag's kind: a boolean takes its value only after "=", any other flag also from the next argument. */
export type FlagKind = 'boolean' | 'value';

const HELP_NAMES = new Set(['h', 'help']);

/**
 * `stop` (the plugin and `check`, as Go's flag package): the first argument
 * that is not a flag, or `--`, ends the flags. `interleaved` (`client`): flags
 * (lower-case names only) and operands may be mixed; `-` and `--` are operands.
 */
export function normalizeGoArgs(argv: readonly string[], kindOf: (name: string) => FlagKind | undefined, positionals: 'stop' | 'interleaved' = 'stop'): NormalizedArgs {
  const tokens: string[] = [];
  const origins: number[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    origins.push(i);
    if (positionals === 'interleaved') {
      if (arg === '-' || arg === '--' || !/^--?[a-z-]+(=|$)/s.test(arg)) {
        origins.pop();
        positional.push(arg);
        continue;
      }
    } else {
      if (arg === '--' || !arg.startsWith('-') || arg === '-') {
        origins.pop();
        return { tokens, origins, end: i, positional: argv.slice(arg === '--' ? i + 1 : i) };
      }
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (HELP_NAMES.has(name)) {
      tokens.push('--help');
      continue;
    }
    if (name === 'version') {
      tokens.push(eq < 0 ? '--version=true' : `--version=${body.slice(eq + 1)}`);
      continue;
    }
    const kind = kindOf(name);
    if (!kind) {
      tokens.push(`--${body}`);
      continue;
    }
    if (eq >= 0) {
      tokens.push(`--${name}=${body.slice(eq + 1)}`);
    } else if (kind === 'boolean') {
      tokens.push(`--${name}=true`);
    } else if (i + 1 < argv.length) {
      tokens.push(`--${name}=${argv[++i]}`);
    } else {
      tokens.push(`--${name}`); // yargs reports the missing value
    }
  }
  return { tokens, origins, end: argv.length, positional };
}
