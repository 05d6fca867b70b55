import { OPTION_BY_FLAG } from './options';

/**
 * Translates Go `flag`-package syntax (what the static-Pod manifests use:
 * `-flag=value`, `--flag=value`, `-flag value`, bare boolean `-flag`,
 * `-flag=false`) into one canonical `--flag=value` token per option, which
 * yargs then parses strictly. Unknown flags are passed through unchanged so
 * yargs reports them by name.
 */
export interface NormalizedArgs {
  readonly tokens: string[];
  /** Arguments after the flags; Go stops parsing there, we reject them. */
  readonly positional: string[];
}

const HELP_NAMES = new Set(['h', 'help']);

export function normalizeGoArgs(argv: readonly string[]): NormalizedArgs {
  const tokens: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return { tokens, positional: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { tokens, positional: argv.slice(i) };
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
    const spec = OPTION_BY_FLAG.get(name);
    if (!spec) {
      tokens.push(`--${body}`);
      continue;
    }
    if (eq >= 0) {
      tokens.push(`--${name}=${body.slice(eq + 1)}`);
    } else if (spec.type === 'boolean') {
      tokens.push(`--${name}=true`);
    } else if (i + 1 < argv.length) {
      tokens.push(`--${name}=${argv[++i]}`);
    } else {
      tokens.push(`--${name}`); // yargs reports the missing value
    }
  }
  return { tokens, positional: [] };
}
