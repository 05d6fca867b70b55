import { formatJson, formatText, succeeded } from './check-report';
import type { CheckOptions } from './check-settings';
import { runDoctor, type DoctorInput } from './doctor';

/** What the composition root (src/compose/check.ts) composes for one run: the doctor's input, and how to release what it opened. */
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
export async function checkCommand(options: CheckOptions, compose: () => ComposedCheck, io: CheckIo): Promise<number> {
  const composed = compose();
  // Nothing else holds the event loop open here (no server, the step deadlines' timers are unref'd), and an
  // undici request on a connection reset before any answer holds no handle of its own while it fails:
  // without this, Node would exit 0, silently, in the middle of a step.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    const steps = await runDoctor(composed.input);
    io.write(options.output === 'json' ? formatJson(steps, options.strict) : formatText(steps, options.strict));
    return succeeded(steps, options.strict) ? 0 : 1;
  } finally {
    clearInterval(keepAlive);
    await composed.close();
  }
}
