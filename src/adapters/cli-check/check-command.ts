import { allPassed, formatJson, formatText } from './check-report';
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

export const CHECK_USAGE = `Usage: vault-kubernetes-kms check [-output text|json] [plugin options]

Checks, once, everything the plugin needs and exits: the configuration, that
Vault is reachable, the login, the token's capabilities on every path the
plugin uses, the transit key, one encrypt/decrypt round trip, and the socket
path. Takes the plugin's own options and environment variables (see
vault-kubernetes-kms -help). Exit status: 0 when every check passed, 1 when
one failed, 2 for a usage error. Changes nothing but what the plugin itself
would do in Vault (a login, one encrypt and one decrypt).

  -output text|json   text (default): one line per check, with the fix for
                      each failure; json: the same as an object
`;

/** `check`: runs the doctor on the configuration the plugin would run with. Resolves to the exit code. */
export async function checkCommand(argv: readonly string[], compose: (pluginArgv: string[]) => ComposedCheck, io: CheckIo): Promise<number> {
  if (argv.some((a) => /^--?(help|h)$/.test(a))) {
    io.write(CHECK_USAGE);
    return 0;
  }
  let output: string;
  let rest: string[];
  try {
    ({ value: output, rest } = takeOption(argv, 'output', 'text'));
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
    io.write(output === 'json' ? formatJson(steps) : formatText(steps));
    return allPassed(steps) ? 0 : 1;
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
