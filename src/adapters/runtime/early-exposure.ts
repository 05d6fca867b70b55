import { SECRET_FLAGS, excludeMemoryFromCoreDumps, hideSecretArguments } from './process-exposure';

/**
 * Loaded second by main.ts, right after the signal listeners: the module's
 * body runs before any other module loads (about 2 s on a busy node for the
 * CLI), so a secret flag leaves /proc/<pid>/cmdline and memory leaves core
 * dumps as early as JavaScript can act. Only when this process is the plugin
 * (`node dist/src/main.js` or the single executable), never in a test that
 * imports main.ts.
 */
export interface EarlyExposure {
  /** The error code when /proc/self/coredump_filter could not be set; undefined when it was. */
  readonly coreDumpFilterError: string | undefined;
}

function isTheProgram(): boolean {
  if (/[\\/]dist[\\/]src[\\/]main\.js$/.test(require.main?.filename ?? '')) return true;
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

function hideFromOtherUsers(args: readonly string[]): EarlyExposure {
  const coreDumpFilterError = excludeMemoryFromCoreDumps();
  if (args[0] === 'check') hideSecretArguments('vault-kubernetes-kms check', args.slice(1), SECRET_FLAGS);
  else if (args[0] !== 'client') hideSecretArguments('vault-kubernetes-kms', args, SECRET_FLAGS);
  return { coreDumpFilterError };
}

export const earlyExposure: EarlyExposure = isTheProgram() ? hideFromOtherUsers(process.argv.slice(2)) : { coreDumpFilterError: 'not attempted' };
