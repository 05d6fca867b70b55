// First: signal listeners exist before any other module loads (SIGUSR1 must never open the inspector).
import { processSignals } from './adapters/runtime/process-signals';
// Second: credentials given as flags leave the process title, and memory leaves core dumps, before the rest loads.
import { earlyExposure, type EarlyExposure } from './adapters/runtime/early-exposure';
import 'reflect-metadata';
import { runCheck } from './compose/check';
import { runClient } from './compose/client';
import { runPlugin } from './compose/plugin';

/**
 * The program: `check` and `client` are one-shot commands, anything else runs
 * the plugin. Each has its own composition root in src/compose/. Resolves to
 * the process exit code.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, exposure: EarlyExposure = { coreDumpFilterError: 'not attempted' }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'check' || command === 'client') {
    // The one-shot tools stop at once on Ctrl-C or SIGTERM: they serve nothing that needs a clean shutdown.
    void processSignals.stopped().then((s) => process.exit(s === 'SIGINT' ? 130 : 143));
    return command === 'check' ? runCheck(rest, env) : runClient(rest, env);
  }
  return runPlugin(argv, env, exposure);
}

/** True when this file is the program: `node dist/src/main.js` or the single-executable artifact. */
function isEntryPoint(): boolean {
  if (require.main === module) return true;
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.on('uncaughtException', (e) => {
    // Never print an arbitrary error object: it could carry request data.
    process.stderr.write(`vault-kubernetes-kms: fatal: ${e?.name ?? 'Error'}: ${String(e?.message ?? '').slice(0, 200)}\n`);
    process.exit(1);
  });
  main(process.argv.slice(2), process.env, earlyExposure).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`vault-kubernetes-kms: fatal: ${(e as Error)?.message ?? 'unknown error'}\n`);
      process.exit(1);
    },
  );
}
