import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealServer } from '../support/real-server';
import { PluginProcess, tempSocketDir } from '../support/plugin-process';

/**
 * What the built CLI tells an operator at start-up and on a mistake, against
 * real OpenBao: each line names the flag, its env var and the way out.
 */
let bao: RealServer;
let dir: string;

before(async () => {
  bao = await RealServer.start();
  dir = mkdtempSync(join(tmpdir(), 'kms-messages-'));
});
after(async () => {
  await bao.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the plugin, returns its start-up line and notices once it serves, and stops it. */
async function startupLines(args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>[]> {
  const socketDir = tempSocketDir();
  const p = new PluginProcess([...args, `-socket=unix://${join(socketDir, 'kms.socket')}`, '-health-port=127.0.0.1:0'], env);
  try {
    await p.waitForLog((l) => l.message === 'health endpoints listening', 15_000);
    return p.logs();
  } finally {
    await p.stop();
    rmSync(socketDir, { recursive: true, force: true });
  }
}

describe('start-up line and notices', () => {
  it('names -token-file once when a fallback env var is ignored for it (given as a flag, and as its env var)', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, `${bao.kmsToken}\n`, { mode: 0o400 });
    let logs = await startupLines([`-vault-address=${bao.url}`, '-auth-method=token', `-token-file=${file}`], { VAULT_TOKEN: bao.kmsToken });
    assert.ok(logs.some((l) => l.message === 'VAULT_TOKEN is set but -token-file is used; VAULT_TOKEN is ignored'), JSON.stringify(logs));
    logs = await startupLines([`-vault-address=${bao.url}`, '-auth-method=token'], { VAULT_TOKEN: bao.kmsToken, VAULT_KMS_TOKEN_FILE: file });
    assert.ok(logs.some((l) => l.message === 'VAULT_TOKEN is set but -token-file (VAULT_KMS_TOKEN_FILE) is used; VAULT_TOKEN is ignored'), JSON.stringify(logs));
    assert.equal(logs.find((l) => l.message === 'starting kms plugin')?.['vault-token-set'], 'from -token-file');
  });

  it('says the AppRole secret ID is set from its file, not "false"', async () => {
    const file = join(dir, 'secret-id');
    writeFileSync(file, `${bao.secretId}\n`, { mode: 0o400 });
    const logs = await startupLines([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`, `-approle-secret-id-file=${file}`]);
    const start = logs.find((l) => l.message === 'starting kms plugin');
    assert.equal(start?.['approle-secret-id-set'], 'from -approle-secret-id-file');
    assert.equal(start?.['approle-secret-id-file'], file);
    const fromEnv = (await startupLines([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`], { VAULT_KMS_APPROLE_SECRET_ID: bao.secretId })).find(
      (l) => l.message === 'starting kms plugin',
    );
    assert.equal(fromEnv?.['approle-secret-id-set'], true);
  });
});

describe('a boolean flag with its value after a space', () => {
  for (const value of ['false', 'true']) {
    it(`-debug ${value}: says booleans take -debug=${value}, naming the flag and its env var (exit 2)`, async () => {
      const p = new PluginProcess(['-dev', '-debug', value, '-health-port=127.0.0.1:0']);
      assert.equal(await p.exited, 2);
      const err = p.stderr.join('\n');
      assert.match(err, new RegExp(`^vault-kubernetes-kms: -debug \\(VAULT_KMS_DEBUG\\) is a boolean: write -debug=${value} \\(Go flag syntax; a bare -debug means true`));
    });
  }

  it('still never echoes a non-boolean stray argument (it may be a secret)', async () => {
    const p = new PluginProcess(['-dev', '-debug', 's.not-a-boolean-secret']);
    assert.equal(await p.exited, 2);
    assert.doesNotMatch(p.stderr.join('\n'), /not-a-boolean-secret/);
    assert.match(p.stderr.join('\n'), /unexpected argument at position 3 \(value not shown\)/);
  });
});

describe('client as a user who may not use the socket', { skip: process.getuid?.() !== 0 && 'needs root to run the client as another user' }, () => {
  it('names the directory or socket mode, its owner, and whom to run as', async () => {
    const socketDir = tempSocketDir();
    const socket = join(socketDir, 'kms.socket');
    const plugin = new PluginProcess(['-dev', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0']);
    const asNobody = async () => {
      const c = new PluginProcess(['client', 'status', `-socket=${socket}`], {}, undefined, undefined, { uid: 65534, gid: 65534 });
      assert.equal(await c.exited, 1);
      return c.stderr.join('\n');
    };
    try {
      await plugin.waitForSocket(socket);
      // The directory as the manifests make it (0700, the plugin's user): the nobody user cannot even look in.
      let err = await asNobody();
      assert.ok(
        err.includes(`permission denied looking into ${socketDir}, mode 0700, owned by uid 0 gid 0: this user (uid 65534) may not enter it; run as that user or root: sudo -u '#0' vault-kubernetes-kms client ...`),
        err,
      );
      // A directory others may enter: the socket's own mode (0600) stops them.
      chmodSync(socketDir, 0o711);
      err = await asNobody();
      assert.ok(err.includes(`permission denied connecting to ${socket}: the socket is mode 0600, owned by uid 0 gid 0, and this user is uid 65534; run as that user or root: sudo -u '#0'`), err);
    } finally {
      await plugin.stop();
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});
