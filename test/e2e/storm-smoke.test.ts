import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ProxiedServer } from '../support/fault-proxy';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';

/**
 * Smoke test of the cold-start storm behaviour that `npm run bench` measures:
 * the built CLI (or the packaged artifact with KMS_PLUGIN_BIN) over its real
 * socket against real OpenBao behind a fault proxy that adds latency and counts the Vault requests; no
 * timing assertions.
 */
let vault: ProxiedServer;
let plugin: PluginProcess;
let client: KmsTestClient;

before(async () => {
  vault = await ProxiedServer.start();
  const socket = join(tempSocketDir(), 'vaultkms.socket');
  plugin = new PluginProcess([
    `-vault-address=${vault.url}`,
    '-auth-method=token',
    `-token=${vault.kmsToken}`,
    `-socket=unix://${socket}`,
    '-health-port=127.0.0.1:0',
    '-disable-v1=false',
    '-health-check-interval=60s',
  ]);
  await plugin.waitForSocket(socket);
  client = new KmsTestClient(socket, { timeoutMs: 30_000 });
  // The first background check (3 Vault requests) has run once Status is ok; the next is 60 s away.
  await eventually(() => client.status(), (s) => s.healthz === 'ok' && s.key_id === '1', 15_000);
});

after(async () => {
  client?.close();
  await plugin?.stop();
  await vault?.close();
});

/** Runs fn(0..total-1) with at most `concurrency` calls in flight; collects the first error per index. */
async function inFlight(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Transit encryptions straight through Vault (setup, not through the plugin), 200 per batch: within OpenBao's request limits. */
async function encryptDirect(plaintexts: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < plaintexts.length; i += 200) {
    const chunk = plaintexts.slice(i, i + 200);
    const res = await fetch(`${vault.bao.url}/v1/transit/encrypt/kms`, {
      method: 'POST',
      headers: { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ batch_input: chunk.map((p) => ({ plaintext: p.toString('base64') })) }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: { batch_results: Array<{ ciphertext: string }> } };
    assert.equal(body.data.batch_results.length, chunk.length);
    out.push(...body.data.batch_results.map((r) => Buffer.from(r.ciphertext, 'latin1')));
  }
  return out;
}

const count = (s: Record<string, number>, key: string) => s[key] ?? 0;

describe('cold-start storms against the plugin (request counts, no timing)', { timeout: 60_000 }, () => {
  it('v2 burst: 200 identical-in-pairs Decrypts in flight together cost one Vault request per distinct ciphertext', async () => {
    // Single-flight shares a Vault request among identical Decrypts that are in flight at the same
    // time (what kube-apiserver sends on a cold start: it caches a DEK once a Decrypt returns).
    // A 50 ms Vault makes sure all 200 are in flight before the first answer.
    vault.setLatency(50);
    try {
      const plaintexts = Array.from({ length: 20 }, () => randomBytes(32));
      const ciphertexts = await encryptDirect(plaintexts);
      vault.resetStats();
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => client.decrypt(ciphertexts[i % 20]!, '1').then((r) => ({ i, r }))));
      for (const { i, r } of answers) assert.ok(Buffer.from(r.plaintext).equals(plaintexts[i % 20]!), `answer ${i} is its own plaintext`);
      const stats = vault.stats();
      assert.equal(count(stats, 'transit.batch_items') + count(stats, 'transit.decrypt') - count(stats, 'transit.decrypt.batch'), 20, `one Vault item per distinct ciphertext (${JSON.stringify(stats)})`);
    } finally {
      vault.setLatency(0);
    }
  });

  it('v2 closed-loop storm: 2,000 Decrypts over 20 ciphertexts, 200 in flight, all correct and far fewer Vault requests than calls', async () => {
    // With no plaintext kept after a request is answered, a ciphertext asked for again after its
    // answer needs a new Vault request; sharing and batching still cut the count well below the calls.
    vault.setLatency(0);
    const plaintexts = Array.from({ length: 20 }, () => randomBytes(32));
    const ciphertexts = await encryptDirect(plaintexts);
    vault.resetStats();
    let wrong = 0;
    let failed = 0;
    let firstError = '';
    await inFlight(2000, 200, async (i) => {
      const k = i % 20;
      try {
        const r = await client.decrypt(ciphertexts[k]!, '1');
        if (!Buffer.from(r.plaintext).equals(plaintexts[k]!)) wrong++;
      } catch (e) {
        failed++;
        firstError ||= String((e as Error).message);
      }
    });
    const stats = vault.stats();
    assert.equal(failed, 0, `Decrypt failures (first: ${firstError})`);
    assert.equal(wrong, 0, 'every Decrypt answer is byte-identical to its plaintext');
    assert.ok(count(stats, 'transit.decrypt') <= 500, `Vault decrypt requests for 2,000 calls: ${count(stats, 'transit.decrypt')} (${JSON.stringify(stats)})`);
  });

  it('v1: 1,000 distinct Decrypts, 200 in flight, 2 ms Vault latency, are batched', async () => {
    const plaintexts = Array.from({ length: 1000 }, () => randomBytes(32));
    const ciphertexts = await encryptDirect(plaintexts);
    vault.setLatency(2);
    try {
      vault.resetStats();
      let wrong = 0;
      let failed = 0;
      let firstError = '';
      await inFlight(1000, 200, async (i) => {
        try {
          const r = await client.v1Decrypt(ciphertexts[i]!);
          if (!Buffer.from(r.plain).equals(plaintexts[i]!)) wrong++;
        } catch (e) {
          failed++;
          firstError ||= String((e as Error).message);
        }
      });
      const stats = vault.stats();
      assert.equal(failed, 0, `v1 Decrypt failures (first: ${firstError})`);
      assert.equal(wrong, 0, 'every v1 Decrypt answer is byte-identical to its plaintext');
      assert.ok(count(stats, 'transit.decrypt.batch') >= 1, `at least one batch decrypt request; stats ${JSON.stringify(stats)}`);
      assert.ok(
        count(stats, 'transit.decrypt') <= 500,
        `Vault decrypt HTTP requests well below the 1,000 Decrypts (at most 500); got ${count(stats, 'transit.decrypt')} (${JSON.stringify(stats)})`,
      );
    } finally {
      vault.setLatency(0);
    }
  });

  it('concurrent Encrypts cost exactly one Vault item each and all decrypt correctly', async () => {
    const n = 600;
    const plaintexts = Array.from({ length: n }, () => randomBytes(32));
    const results: Array<{ ciphertext: Buffer; key_id: string } | undefined> = new Array(n);
    vault.setLatency(2);
    let stats: Record<string, number>;
    let failed = 0;
    let firstError = '';
    try {
      vault.resetStats();
      await inFlight(n, 200, async (i) => {
        try {
          results[i] = await client.encrypt(plaintexts[i]!, `uid-${i}`);
        } catch (e) {
          failed++;
          firstError ||= String((e as Error).message);
        }
      });
      stats = vault.stats();
    } finally {
      vault.setLatency(0);
    }
    assert.equal(failed, 0, `Encrypt failures (first: ${firstError})`);
    const singles = count(stats, 'transit.encrypt') - count(stats, 'transit.encrypt.batch');
    assert.equal(count(stats, 'transit.decrypt'), 0, 'no decrypts were counted in the Encrypt window');
    assert.equal(
      singles + count(stats, 'transit.batch_items'),
      n,
      `single encrypt requests + batch items must equal the ${n} Encrypts; stats ${JSON.stringify(stats)}`,
    );
    for (const r of results) {
      assert.ok(r);
      assert.equal(r.key_id, '1');
      assert.match(r.ciphertext.toString('latin1'), /^vault:v1:/);
    }
    let wrong = 0;
    await inFlight(n, 200, async (i) => {
      const r = await client.decrypt(results[i]!.ciphertext, results[i]!.key_id);
      if (!Buffer.from(r.plaintext).equals(plaintexts[i]!)) wrong++;
    });
    assert.equal(wrong, 0, 'every Encrypt result decrypts to its plaintext');
  });
});
