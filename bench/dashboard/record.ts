import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../../test/support/kms-client';
import { OpenBaoServer } from '../../test/support/openbao';
import { PluginProcess, REPO_ROOT, sleep, tempSocketDir } from '../../test/support/plugin-process';
import { TcpForwarder } from '../../test/support/tcp-forwarder';

/**
 * Real data for the dashboard picture (docs/dashboard.svg): the built plugin on
 * a real OpenBao under a scripted load, its /metrics scraped every 5 s.
 *   node dist/bench/dashboard/record.js [seconds] [out dir]
 * The story, in fractions of the run: steady KMS v2 and v1 traffic with
 * bursts of identical Decrypts (single-flight) and of distinct ones
 * (batching), a few undecryptable ciphertexts; two addresses in
 * -vault-address (the first through a TCP forwarder that is cut from 15% to
 * 30%, so requests move to the second); the key rotated at 35%; OpenBao
 * sealed from 60% to 72%. The token is periodic with the 1 h period
 * docs/setup.md recommends. Writes scrapes.om (OpenMetrics, every
 * sample timestamped) and range.json (start, end, step) to the out dir.
 */
const SCRAPE_MS = 5000;

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 240);
  const outDir = process.argv[3] ?? join(REPO_ROOT, 'bench/results/dashboard');
  mkdirSync(outDir, { recursive: true });
  const bao = await OpenBaoServer.start({ mode: 'server' });
  const dir = tempSocketDir();
  const socket = join(dir, 'kms.socket');
  // The recommended token: periodic, 1 h (the Token TTL stat must show it green).
  const { token } = await bao.createToken({ policies: ['kms'], no_default_policy: true, period: '1h', renewable: true });
  // Two addresses of one Vault: the first through a forwarder the story cuts, the second direct.
  const forwarder = new TcpForwarder(await TcpForwarder.freePort(), Number(new URL(bao.url).port));
  await forwarder.up();
  const plugin = new PluginProcess(
    [`-vault-address=http://127.0.0.1:${forwarder.port},${bao.url}`, '-auth-method=token', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-disable-v1=false',
      '-health-check-interval=5s', '-token-refresh-interval=10s'],
    { VAULT_KMS_VAULT_TOKEN: token },
  );
  const client = new KmsTestClient(socket, { timeoutMs: 3000 });
  const scrapes: { t: number; text: string }[] = [];
  let stopped = false;
  try {
    const port = await plugin.healthPort();
    await plugin.waitForSocket(socket);
    const started = Date.now();
    const frac = () => (Date.now() - started) / (seconds * 1000);
    const scraper = (async () => {
      while (!stopped) {
        const t = Date.now();
        try {
          scrapes.push({ t, text: await (await fetch(`http://127.0.0.1:${port}/metrics`)).text() });
        } catch {
          /* a missed scrape is a gap, as in Prometheus */
        }
        await sleep(SCRAPE_MS - (Date.now() - t));
      }
    })();
    const story = (async () => {
      while (frac() < 0.15) await sleep(200);
      await forwarder.down();
      process.stdout.write('first address cut\n');
      while (frac() < 0.3) await sleep(200);
      await forwarder.up();
      process.stdout.write('first address back\n');
      while (frac() < 0.35) await sleep(200);
      process.stdout.write(`rotated to version ${await bao.rotateKey()}\n`);
      while (frac() < 0.6) await sleep(200);
      await bao.seal();
      process.stdout.write('sealed\n');
      while (frac() < 0.72) await sleep(200);
      await bao.unseal();
      process.stdout.write('unsealed\n');
    })();
    const pool: Buffer[] = [];
    const ignore = () => undefined;
    let tick = 0;
    while (frac() < 1) {
      tick++;
      // A rate that swells and ebbs, as kube-apiserver's does with Secret writes and reads.
      const wave = 1 + Math.sin(frac() * Math.PI * 4) * 0.5;
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < Math.round(4 * wave); i++) {
        jobs.push(client.encrypt(Buffer.from(`dashboard data key ${tick}-${i}`)).then((r) => {
          pool.push(r.ciphertext);
          if (pool.length > 200) pool.shift();
        }, ignore));
      }
      for (let i = 0; i < Math.round(10 * wave) && pool.length > 0; i++) jobs.push(client.decrypt(pool[(tick * 7 + i) % pool.length], '1').catch(ignore));
      if (tick % 5 === 0) jobs.push(client.v1Encrypt(Buffer.from(`v1 ${tick}`)).then((r) => client.v1Decrypt(r.cipher)).catch(ignore));
      if (tick % 40 === 0) jobs.push(client.decrypt(Buffer.from('vault:v1:bm90IGEgY2lwaGVydGV4dA=='), '1').catch(ignore));
      if (tick % 150 === 0 && pool.length > 0) {
        // A cold start: many identical Decrypts at once (one Vault request), then many distinct ones (batched).
        for (let i = 0; i < 100; i++) jobs.push(client.decrypt(pool[0], '1').catch(ignore));
        for (const c of pool.slice(0, 150)) jobs.push(client.decrypt(c, '1').catch(ignore));
      }
      await Promise.all([...jobs, sleep(100)]);
    }
    await story;
    stopped = true;
    await scraper;
  } finally {
    stopped = true;
    client.close();
    await plugin.stop();
    await forwarder.down();
    await bao.close();
  }
  writeFileSync(join(outDir, 'scrapes.om'), toOpenMetrics(scrapes));
  writeFileSync(join(outDir, 'range.json'), JSON.stringify({ start: scrapes[0].t / 1000, end: scrapes[scrapes.length - 1].t / 1000, step: SCRAPE_MS / 1000, scrapes: scrapes.length }));
  process.stdout.write(`${scrapes.length} scrapes written to ${outDir}\n`);
}

/**
 * Every sample of every scrape, timestamped, grouped by sample name (OpenMetrics
 * wants each family in one piece); each name is its own "unknown" family,
 * which keeps _bucket/_sum/_count series exactly as Prometheus stores them.
 */
function toOpenMetrics(scrapes: readonly { t: number; text: string }[]): string {
  const byName = new Map<string, string[]>();
  for (const { t, text } of scrapes) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/.exec(line);
      if (!m) continue;
      const lines = byName.get(m[1]) ?? [];
      lines.push(`${m[1]}${m[2] ?? ''} ${m[3]} ${(t / 1000).toFixed(3)}`);
      byName.set(m[1], lines);
    }
  }
  const out: string[] = [];
  for (const [name, lines] of byName) {
    out.push(`# TYPE ${name} unknown`);
    // Within a family, samples of one series must be in time order: sort by labels, stably by time.
    out.push(...lines.map((l, i) => ({ l, i, key: l.slice(0, l.lastIndexOf(' ', l.lastIndexOf(' ') - 1)) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i)).map((x) => x.l));
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}

main().catch((e) => {
  process.stderr.write(`record: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
