import { formatJson, formatText, succeeded } from './check-report';
import { runDoctor, type DoctorInput } from './doctor';

/** What main.ts composes for one run: the doctor's input, and how to release what it opened. */
export interface ComposedCheck {
  readonly input: DoctorInput;
  close(): Promise<void>;
}

export interface CheckIo {
  write(text: string): void;
  writeError(text: string): void;
}

export const CHECK_USAGE = `Usage: vault-kubernetes-kms check [-output text|json] [-strict] [plugin options]

Checks, once, everything the plugin needs and exits: the configuration, that
Vault is reachable, the login, the token's lifetime (token auth), its
capabilities on every path the plugin uses, the transit key, one
encrypt/decrypt round trip, the socket path and the health port. Insecure
set-ups (plain http:// to another host, VAULT_SKIP_VERIFY, a root or
never-expiring token, a credential file others may read) are warnings.
Takes the plugin's own options and environment variables (see
vault-kubernetes-kms -help). Exit status: 0 when no check failed (warnings
included), 1 when one failed (or, with -strict, when there is a warning),
2 for a usage error. Changes nothing but what the plugin itself would do in
Vault (a login, one encrypt and one decrypt); a token a login created for
the check is revoked at the end.

  -output text|json   text (default): one line per check, with the fix for
                      each failure and warning; json: the same as an object
  -strict             exit 1 on a warning too
`;

/** `check`: runs the doctor on the configuration the plugin would run with. Resolves to the exit code. */
export async function checkCommand(argv: readonly string[], compose: (pluginArgv: string[]) => ComposedCheck, io: CheckIo): Promise<number> {
  if (argv.some((a) => /^--?(help|h)$/.test(a))) {
    io.write(CHECK_USAGE);
    return 0;
  }
  let output: string;
  let rest: string[];
  let strict = false;
  try {
    ({ value: output, rest } = takeOption(argv, 'output', 'text'));
    ({ value: strict, rest } = takeBoolean(rest, 'strict'));
  } catch (e) {
    io.writeError(`vault-kubernetes-kms check: ${(e as Error).message}\n`);
    return 2;
  }
  if (output !== 'text' && output !== 'json') {
    io.writeError(`vault-kubernetes-kms check: -output must be text or json, not "${output.slice(0, 20)}"\n`);
    return 2;
  }
  const composed = compose(rest);
  // Nothing else holds the event loop open here (no server, the step deadlines' timers are unref'd), and an
  // undici request on a connection reset before any answer holds no handle of its own while it fails:
  // without this, Node would exit 0, silently, in the middle of a step.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    const steps = await runDoctor(composed.input);
    io.write(output === 'json' ? formatJson(steps, strict) : formatText(steps, strict));
    return succeeded(steps, strict) ? 0 : 1;
  } finally {
    clearInterval(keepAlive);
    await composed.close();
  }
}

/** Removes -name=value, --name=value, -name value or --name value from argv; the last one given wins. */
export function takeOption(argv: readonly string[], name: string, fallback: string): { value: string; rest: string[] } {
  const rest: string[] = [];
  let value = fallback;
  for (let i = 0; i < argv.length; i++) {
    const m = new RegExp(`^--?${name}(?:=(.*))?$`).exec(argv[i]);
    if (!m) {
      rest.push(argv[i]);
      continue;
    }
    if (m[1] !== undefined) value = m[1];
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new Error(`-${name} needs a value`);
  }
  return { value, rest };
}

/** Removes -name, -name=true|false (Go flag syntax: a boolean takes its value after "="); the last one wins. */
export function takeBoolean(argv: readonly string[], name: string): { value: boolean; rest: string[] } {
  const rest: string[] = [];
  let value = false;
  for (const arg of argv) {
    const m = new RegExp(`^--?${name}(?:=(.*))?$`).exec(arg);
    if (!m) {
      rest.push(arg);
      continue;
    }
    if (m[1] === undefined || /^(1|t|T|true|TRUE|True)$/.test(m[1])) value = true;
    else if (/^(0|f|F|false|FALSE|False)$/.test(m[1])) value = false;
    else throw new Error(`-${name} is a boolean: give -${name} or -${name}=false`);
  }
  return { value, rest };
}
