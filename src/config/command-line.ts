import yargs from 'yargs';
import type { CheckOptions } from '../adapters/cli-check/check-settings';
import type { ClientFlags } from '../adapters/cli-client/client-settings';
import { ConfigError } from './config';
import { normalizeGoArgs, type FlagKind } from './go-flags';
import { OPTIONS, OPTION_BY_FLAG, describeOption } from './options';
import { parseGoBool } from './values';

/** Each plugin option's value as given on the command line (a string), by flag name; and -help, -version. */
export type PluginFlags = Readonly<Record<string, unknown>>;

const CLIENT_ACTIONS = new Set(['status', 'encrypt', 'decrypt']);
const CLIENT_FLAGS = ['socket', 'api', 'key-id', 'output', 'timeout'] as const;

/**
 * The one parser of the program's command line: the plugin's options (the
 * default command), `check` (its own -output and -strict; the plugin options
 * it checks are read by the default command) and `client <action>`. Go flag
 * syntax is normalized first (go-flags.ts); every value stays a string, and
 * the callers check the values, naming the flag and its env var.
 */
function commandLine(tokens: readonly string[]) {
  return yargs([...tokens])
    .scriptName('vault-kubernetes-kms')
    .parserConfiguration({
      'camel-case-expansion': false,
      'boolean-negation': false,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'short-option-groups': false,
      'duplicate-arguments-array': false,
    })
    .strict()
    .version(false)
    .help(false)
    .exitProcess(false)
    .fail((msg, err) => {
      throw new ConfigError(err?.message ?? msg ?? 'invalid command line');
    })
    .command('$0', 'run the plugin', (y) => {
      let withOptions = y.option('help', { type: 'boolean' }).option('version', { type: 'string' });
      for (const spec of OPTIONS) withOptions = withOptions.option(spec.flag, { type: 'string', requiresArg: true });
      return withOptions;
    })
    .command('check', 'check the set-up once', (y) => y.option('output', { type: 'string', requiresArg: true }).option('strict', { type: 'string' }))
    .command('client <action>', 'one call on the socket', (y) => {
      let withOptions = y.positional('action', { type: 'string' });
      for (const flag of CLIENT_FLAGS) withOptions = withOptions.option(flag, { type: 'string', requiresArg: true });
      return withOptions;
    });
}

function parse(tokens: readonly string[]): Record<string, unknown> {
  return commandLine(tokens).parseSync() as Record<string, unknown>;
}

const pluginFlagKind = (name: string): FlagKind | undefined => {
  const spec = OPTION_BY_FLAG.get(name);
  return spec && (spec.type === 'boolean' ? 'boolean' : 'value');
};

/** `-help` or `-h` anywhere: the one-shot commands print their usage whatever else is given. */
export function asksForHelp(argv: readonly string[]): boolean {
  return argv.some((a) => /^--?(help|h)$/.test(a));
}

/** The plugin's command line. Throws ConfigError naming the flag or the stray argument's position (never its value). */
export function parsePluginFlags(argv: readonly string[]): PluginFlags {
  const { tokens, positional } = normalizeGoArgs(argv, pluginFlagKind);
  rejectPositional(argv, positional);
  return parse(tokens);
}

/**
 * `check [-output text|json] [-strict] [plugin options]`: check's own options;
 * the plugin options, read like the plugin's (an error there is a finding of
 * the check, not a usage error), are left in `pluginArgs`.
 */
export function parseCheckFlags(argv: readonly string[]): { readonly options: CheckOptions; readonly pluginArgs: readonly string[] } {
  const own = new Set(['output', 'strict']);
  const { tokens, origins, end } = normalizeGoArgs(argv, (name) => (name === 'output' ? 'value' : name === 'strict' ? 'boolean' : pluginFlagKind(name)));
  const isOwn = (token: string) => own.has(/^--([^=]*)/.exec(token)?.[1] ?? '');
  // The plugin options as given: argv without check's own flags (and the value after a space that belongs to one).
  const ownArgs = new Set<number>();
  tokens.forEach((token, i) => {
    if (isOwn(token)) for (let at = origins[i]; at < (origins[i + 1] ?? end); at++) ownArgs.add(at);
  });
  let flags: Record<string, unknown>;
  try {
    flags = parse(['check', ...tokens.filter(isOwn)]);
  } catch (e) {
    throw flagError(e, (name) => `-${name} needs a value`);
  }
  const output = String(flags.output ?? 'text');
  if (output !== 'text' && output !== 'json') throw new ConfigError(`-output must be text or json, not "${output.slice(0, 20)}"`);
  const strictText = flags.strict === undefined ? 'false' : String(flags.strict);
  const strict = strictText === strictText.trim() ? parseGoBool(strictText) : undefined;
  if (strict === undefined) throw new ConfigError('-strict is a boolean: give -strict or -strict=false');
  return { options: { output, strict }, pluginArgs: argv.filter((_, i) => !ownArgs.has(i)) };
}

/** `client <action> [options] [operand]`: flags and operands may be mixed; `-` and `--` are operands. */
export function parseClientFlags(argv: readonly string[]): ClientFlags {
  const [action, ...rest] = argv;
  if (!CLIENT_ACTIONS.has(action)) throw new ConfigError(`unknown command "${String(action).slice(0, 20)}": use status, encrypt or decrypt`);
  const { tokens, positional } = normalizeGoArgs(rest, (name) => ((CLIENT_FLAGS as readonly string[]).includes(name) ? 'value' : undefined), 'interleaved');
  let flags: Record<string, unknown>;
  try {
    flags = parse(['client', action, ...tokens, '--', ...positional]);
  } catch (e) {
    throw flagError(e, (name) => `-${name} needs a value`);
  }
  const text = (flag: (typeof CLIENT_FLAGS)[number]) => (flags[flag] === undefined ? undefined : String(flags[flag]));
  return {
    action: action as ClientFlags['action'],
    operands: (flags._ as unknown[]).slice(1).map(String),
    socket: text('socket'),
    api: text('api'),
    keyId: text('key-id'),
    output: text('output'),
    timeout: text('timeout'),
  };
}

/** yargs' messages in the commands' words: "unknown option -x", "-x needs a value". */
function flagError(e: unknown, missingValue: (name: string) => string): Error {
  if (!(e instanceof ConfigError)) return e as Error;
  const unknown = /^Unknown arguments?: ([^,]+)/.exec(e.message);
  if (unknown) return new ConfigError(`unknown option -${unknown[1]}`);
  const missing = /^Not enough arguments following: (.+)$/.exec(e.message);
  if (missing) return new ConfigError(missingValue(missing[1]));
  return e;
}

/**
 * Go stops reading flags at the first other argument; the plugin refuses it
 * instead of ignoring what follows. `-debug false`: a bare boolean flag means
 * true, so "false" is a stray argument; said as such, naming the flag and its
 * env var. Only a boolean word is echoed, never another value: `-token= s.SECRET`
 * makes the secret a stray argument, and stderr ends up in the container log.
 */
function rejectPositional(argv: readonly string[], positional: readonly string[]): void {
  if (positional.length === 0) return;
  const flagArg = argv[argv.length - positional.length - 1];
  const value = positional[0];
  const name = /^--?([a-z0-9-]+)$/.exec(flagArg ?? '')?.[1];
  const spec = name ? OPTION_BY_FLAG.get(name) : undefined;
  if (spec && spec.type === 'boolean' && parseGoBool(value) !== undefined) {
    throw new ConfigError(
      `${describeOption(spec.flag)} is a boolean: write -${spec.flag}=${value} (Go flag syntax; a bare -${spec.flag} means true, and the "${value}" after a space is not read as its value)`,
    );
  }
  const at = argv.length - positional.length + 1;
  throw new ConfigError(`unexpected argument at position ${at} (value not shown): options are given as -name=value, with no space after "="`);
}
