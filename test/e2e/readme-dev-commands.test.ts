import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../support/kms-client';
import { REPO_ROOT, eventually, tempSocketDir } from '../support/plugin-process';

/**
 * The README's "five minutes with the dev backend" commands, run as written:
 * `npm start` execs the plugin (no shell left to catch a signal), and the
 * documented rotation command signals the plugin and nothing else, and
 * the encrypt/decrypt round trip with `client` prints the plaintext back.
 * The build step of `npm start` is left out: the suite runs on a built tree.
 */
const onArtifact = Boolean(process.env.KMS_PLUGIN_BIN);
const children: ReturnType<typeof spawn>[] = [];
after(() => children.forEach((c) => c.kill('SIGKILL')));

/** The README's encrypt/decrypt round trip with `client`: its lines from `ct=` to the decrypt, comments dropped. */
function readmeClientRoundTrip(): string {
  const lines = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n');
  const first = lines.findIndex((l) => l.startsWith('ct=$(') && l.includes(' client encrypt '));
  assert.ok(first >= 0, 'the README has the client encrypt line');
  const last = lines.findIndex((l, i) => i > first && l.includes(' client decrypt '));
  assert.ok(last > first, 'and the client decrypt line after it');
  return lines.slice(first, last + 1).map((l) => l.replace(/\s+# .*$/, '')).join('\n');
}

function readmeRotationCommand(): string {
  const line = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n').find((l) => l.includes('-USR2'));
  assert.ok(line, 'the README documents the dev key rotation');
  return line.replace(/#.*$/, '').trim();
}

describe('README dev-mode commands', { skip: onArtifact && 'about npm start, not the artifact' }, () => {
  it('npm start leaves only the plugin running, and the documented kill -USR2 rotates its key without killing anything', async () => {
    const start = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts.start as string;
    const run = start.replace(/^npm run build --silent && /, '');
    assert.notEqual(run, start, 'npm start builds first');
    assert.match(run, /^exec /, 'npm start execs the plugin, so signals reach it directly');
    const socket = join(tempSocketDir(), 'vaultkms.socket');
    // As npm runs a script: sh -c, in the package directory. Env vars move socket and health port only.
    const child = spawn('sh', ['-c', run], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, VAULT_KMS_SOCKET: `unix://${socket}`, VAULT_KMS_HEALTH_PORT: '127.0.0.1:0' },
      stdio: 'ignore',
    });
    children.push(child);
    const client = new KmsTestClient(socket);
    try {
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
      assert.equal((await client.status()).key_id, '1');
      // The round trip as written, from the checkout; only the dev socket is this test's own.
      const roundTrip = readmeClientRoundTrip().replaceAll('.dev/vaultkms.socket', socket);
      const printed = execFileSync('sh', ['-c', roundTrip], { cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
      assert.equal(printed, 'my secret value', 'decrypt prints what encrypt was given');
      execFileSync('sh', ['-c', readmeRotationCommand()], { cwd: REPO_ROOT, stdio: 'pipe' });
      await eventually(() => client.status(), (s) => s.key_id === '2', 5_000);
      assert.equal(child.exitCode, null, 'the process npm started is the plugin, and it is still running');
      assert.equal(child.signalCode, null);
    } finally {
      client.close();
      child.kill('SIGTERM');
    }
  });
});
