import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/plugin-process';

/**
 * The shell commands of docs/setup.md, step 1 ("Prepare Vault"), taken from the document itself so the
 * document is what the cluster suite runs: the first block (Transit, key, policy), the AppRole blocks and
 * the token block, with `vault` being OpenBao's CLI. The only changes are the example values a reader
 * replaces too: the Vault address, the node IPs of secret_id_bound_cidrs, /opt/kms (the node's directory,
 * under the test's root) and vault-ca.crt. Each must be found, so a change of the document that the
 * suite does not follow fails here instead of passing unnoticed.
 */
export function setupDocCommands(): { prepare: string; approle: string[]; token: string[] } {
  const doc = readFileSync(join(REPO_ROOT, 'docs/setup.md'), 'utf8');
  const section = (heading: string): string => {
    const start = doc.indexOf(`\n${heading}\n`);
    if (start < 0) throw new Error(`docs/setup.md has no heading "${heading}"`);
    const level = heading.split(' ')[0];
    const rest = doc.slice(start + heading.length + 2);
    const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
    return next < 0 ? rest : rest.slice(0, next);
  };
  const blocks = (text: string): string[] => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const prepare = blocks(section('## 1. Prepare Vault').split('\n### ')[0]);
  const approle = blocks(section('### AppRole (recommended)'));
  const token = blocks(section('### Token (alternative)'));
  if (prepare.length !== 1 || approle.length !== 2 || token.length !== 1)
    throw new Error(`docs/setup.md step 1: expected 1 + 2 + 1 sh blocks, found ${prepare.length} + ${approle.length} + ${token.length}`);
  return { prepare: prepare[0], approle, token };
}

export interface SetupDocResult {
  readonly roleId: string;
  readonly script: string;
  readonly output: string;
}

function replaceRequired(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`docs/setup.md: "${from}" not found; the cluster suite substitutes it`);
  return typeof from === 'string' ? text.split(from).join(to) : text.replace(from, to);
}

/** Runs the commands against a real OpenBao as root (the document's `install -o 65532 ...` need it). */
export function runSetupDoc(opts: { bao: string; vaultAddr: string; rootToken: string; caFile: string; kmsDir: string; clientCidr: string }): SetupDocResult {
  const { prepare, approle, token } = setupDocCommands();
  let script = [prepare, ...approle, ...token].join('\n');
  script = replaceRequired(script, /export VAULT_ADDR=\S+/, `export VAULT_ADDR=${opts.vaultAddr}`);
  script = replaceRequired(script, /secret_id_bound_cidrs=\S+/, `secret_id_bound_cidrs=${opts.clientCidr}`);
  script = replaceRequired(script, '/opt/kms', opts.kmsDir);
  script = replaceRequired(script, 'vault-ca.crt', opts.caFile);
  const full = `set -euo pipefail\nvault() { "$KMS_BAO" "$@"; }\n${script}\necho "ROLE_ID=$ROLE_ID"\n`;
  const res = spawnSync('bash', ['-c', full], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KMS_BAO: opts.bao, VAULT_TOKEN: opts.rootToken, VAULT_CACERT: opts.caFile },
    timeout: 120_000,
  });
  const output = `${res.stdout}${res.stderr}`;
  if (res.status !== 0) throw new Error(`the commands of docs/setup.md step 1 failed (exit ${res.status}):\n${output}\nscript:\n${full}`);
  const roleId = /^ROLE_ID=(\S+)$/m.exec(res.stdout)?.[1];
  if (!roleId) throw new Error(`docs/setup.md step 1 set no ROLE_ID:\n${output}`);
  return { roleId, script: full, output };
}
