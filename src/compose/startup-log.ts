import type { PluginConfig } from '../config/config';
import { secretFiles, vaultAddresses } from '../config/credential-files';
import { startupFields } from '../config/startup-fields';
import type { WinstonLogger } from '../adapters/logging/winston-logger';
import type { EarlyExposure } from '../adapters/runtime/early-exposure';
import { credentialFileExposure } from '../adapters/vault/auth/secret-file';
import { VERSION } from './version';

/** What start-up did to keep secrets out of the process list and core dumps, and the secret flags it found. */
export interface StartupExposure extends EarlyExposure {
  readonly secretFlags: readonly string[];
}

/** The first lines of the log: the configuration (never a secret), and every set-up that weakens it. */
export function logStartup(config: PluginConfig, log: WinstonLogger, exposure: StartupExposure): void {
  log.info('starting kms plugin', startupFields(config, VERSION));
  for (const flag of exposure.secretFlags) {
    log.warn(`-${flag} was given on the command line: other users on this node could read it in /proc/<pid>/cmdline until start-up hid it, and the manifest shows it; use -${flag}-file (a 0400 file) instead`, { flag: `-${flag}`, instead: `-${flag}-file` });
  }
  if (exposure.coreDumpFilterError) {
    log.warn('cannot keep memory out of core dumps (/proc/self/coredump_filter); a core dump would hold the Vault token: set the core size limit to 0 for this container (docs/security.md)', { error: exposure.coreDumpFilterError });
  }
  if (config.dev) {
    log.warn('DEV MODE: in-process transit backend with an ephemeral key. NOT FOR PRODUCTION: everything encrypted is lost when the process exits.');
  }
  for (const address of vaultAddresses(config)) {
    if (address.startsWith('http://')) log.warn('Vault address uses plain http://: tokens and data keys cross the network unencrypted', { vault_address: address });
  }
  if (config.vault.skipVerify) log.warn('VAULT_SKIP_VERIFY is set: the Vault server certificate is not verified');
  for (const { flag, path } of secretFiles(config)) {
    const problem = credentialFileExposure(path);
    if (problem) log.warn('credential file is exposed: make it mode 0400, owned by the user the plugin runs as', { flag, file: path, problem });
  }
  for (const notice of config.notices) log.info(notice);
}
