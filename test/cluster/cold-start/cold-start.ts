/**
 * npm run bench:cold-start: the cold start users feel, on the kubelet node of the cluster suite (issue 21, part 2).
 *
 * A few thousand Secrets are stored through kube-apiserver (KMS v2: in batches over several apiserver restarts and
 * one Transit key rotation, so several DEK seeds exist; KMS v1: one data key per Secret). Then, with the same
 * Secrets, the same etcd and the same OpenBao, the plugin's static Pod runs our image or the Go plugin v1.4.0's,
 * switched by editing its manifest as the migration test does (the Go plugin's upstream manifest, token auth, our
 * image put in its place), and the kube-apiserver static Pod is restarted (its manifest changed): measured is the
 * time until `GET /api/v1/secrets` (what `kubectl get secrets -A` sends) returns every Secret, decrypted and
 * compared with what was written; the plugin's CPU time (user + system of its process, /proc/<pid>/stat) in that
 * window, and OpenBao's and etcd's; the new kube-apiserver's own CPU time; and the requests OpenBao received from the
 * plugin (its audit log), with their latency. Per plugin: one warm-up restart after the switch (recorded, left out
 * of the medians), then `rounds` measured ones.
 *
 * Runs as root in a private network namespace (test/cluster/cold-start/run.sh). Arguments:
 *   --api v2|v1|both   (default both: v2 on one node, then v1 on a fresh one)
 *   --secrets N        (default 3000)   --rounds N (default 3)
 *   --out DIR          (default bench/results)
 *   --profile          then `rounds` more restarts with ours run as a process under --cpu-prof (see profileOurs);
 *                      the profiles and a summary land in DIR/cold-start-prof-<api>/
 *   --profile-v8-flags "F..."  a second profiled series with these V8 flags instead of the executable's
 *   --no-compare       only the profiled series (no image/Go rounds)
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { type ClusterNode, NODE_NAME } from '../node';
import { PLUGIN, deploy, need } from '../deploy';
import { type RealServer, baoBinary } from '../../support/real-server';
import { REPO_ROOT, sleep } from '../../support/plugin-process';

type Api = 'v1' | 'v2';
type Plugin = 'ours' | 'go';

interface Options {
  readonly apis: Api[];
  readonly secrets: number;
  readonly rounds: number;
  readonly out: string;
  readonly profile: boolean;
  readonly profileV8Flags?: string[];
  readonly compare: boolean;
}

export interface Sample {
  readonly plugin: Plugin;
  readonly round: number;
  readonly warmUp: boolean;
  /** From writing the changed kube-apiserver manifest to the full list returning every Secret. */
  readonly listSeconds: number;
  /** From the old kube-apiserver process gone to the full list (the kubelet's own part removed). */
  readonly listSecondsFromExit: number;
  /** From the new kube-apiserver process's start (its /proc starttime) to the full list: the apiserver's own cold start. */
  readonly listSecondsFromStart: number;
  /** From the old process gone to the new one started: the kubelet's part. */
  readonly kubeletSeconds: number;
  /** From the manifest write to the first /readyz 200. */
  readonly readySeconds: number;
  readonly secretsListed: number;
  readonly pluginCpuSeconds: number;
  readonly apiserverCpuSeconds: number;
  /** OpenBao's and etcd's CPU over the same window as the plugin's (from the manifest edit to the full list). */
  readonly vaultCpuSeconds: number;
  readonly etcdCpuSeconds: number;
  /** Requests from the plugin between the new process's start and the full list. */
  readonly vaultRequests: number;
  readonly vault: Record<string, number>;
  /** The same over the whole window from the manifest write (includes the plugin's own health checks meanwhile). */
  readonly vaultWholeWindow: Record<string, number>;
  /** transit/decrypt as OpenBao's audit log times them (request entry to response entry). */
  readonly decryptLatencyMs: { readonly median: number; readonly p90: number; readonly sum: number };
  /** Seconds after the new kube-apiserver process started of the first and last plugin request OpenBao saw. */
  readonly vaultWindow: { readonly first: number; readonly last: number } | null;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (flag: string, dflt: string): string => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
  };
  const api = value('--api', 'both');
  if (!['v1', 'v2', 'both'].includes(api)) throw new Error(`--api must be v1, v2 or both, not ${api}`);
  const secrets = Number(value('--secrets', '3000'));
  const rounds = Number(value('--rounds', '3'));
  if (!Number.isInteger(secrets) || secrets < 1) throw new Error(`--secrets must be a positive integer`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer`);
  return {
    apis: api === 'both' ? ['v2', 'v1'] : [api as Api],
    secrets,
    rounds,
    out: value('--out', join(REPO_ROOT, 'bench/results')),
    profile: argv.includes('--profile') || argv.includes('--profile-v8-flags'),
    profileV8Flags: argv.includes('--profile-v8-flags') ? value('--profile-v8-flags', '').split(/\s+/).filter(Boolean) : undefined,
    compare: !argv.includes('--no-compare'),
  };
}

const CLK_TCK = 100;

/** User + system CPU seconds of a process (all its threads), or NaN if it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Audited request paths named as test/support/real-server.ts names them. */
function statKey(path: string, operation: string): string {
  if (path.startsWith('transit/encrypt/')) return 'transit.encrypt';
  if (path.startsWith('transit/decrypt/')) return 'transit.decrypt';
  if (/^transit\/keys\/[^/]+$/.test(path)) return operation === 'read' ? 'transit.keys.read' : `transit.keys.${operation}`;
  if (path === 'auth/token/lookup-self') return 'token.lookup-self';
  return path;
}

/** This network namespace's processes whose argv[0] is `exe`: the node's containers, not another suite's. */
function pidsOf(exe: string): number[] {
  const ourNet = readlinkSync('/proc/self/ns/net');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] !== exe) continue;
      if (readlinkSync(`/proc/${entry}/ns/net`) !== ourNet) continue;
      pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** When a process started, in epoch milliseconds (/proc/<pid>/stat starttime against /proc/uptime, 10 ms steps). */
function startedAtMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - (uptime - startTicks / CLK_TCK) * 1000;
}

/** An audit entry's time with its sub-millisecond digits kept (Date.parse drops them). */
function auditTimeMs(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(time);
  if (!m) return Date.parse(time);
  return Date.parse(`${m[1]}Z`) + Number(m[2] ?? 0) * 1000;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
}

class ColdStartBench {
  private generation = 0;
  /** namespace/name → value, every Secret written. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly node: ClusterNode,
    private readonly bao: RealServer,
    private readonly api: Api,
    private readonly options: Options,
  ) {}

  private apiserverFlags(): string[] {
    return this.api === 'v1' ? ['--feature-gates=KMSv1=true'] : [];
  }

  /** The Go plugin's upstream static Pod (assets/vault-kubernetes-kms.yml) with the operator's values, as the migration test makes it. */
  private goManifest(): string {
    const upstream = readFileSync(join(need('KMS_CLUSTER_GO_PLUGIN_SRC'), 'assets/vault-kubernetes-kms.yml'), 'utf8');
    const replaceOnce = (text: string, from: string, to: string): string => {
      const parts = text.split(from);
      if (parts.length !== 2) throw new Error(`the Go plugin's manifest: "${from}" found ${parts.length - 1} times`);
      return parts.join(to);
    };
    let text = replaceOnce(upstream, 'image: falcosuessgott/vault-kubernetes-kms:latest', `image: ${need('KMS_CLUSTER_GO_PLUGIN_IMAGE')}`);
    text = replaceOnce(text, '-vault-address=http://host.docker.internal:8200', `-vault-address=${this.bao.url}`);
    text = replaceOnce(text, '-token=root', `-token=${readFileSync(join(this.node.kmsDir, 'token'), 'utf8').trim()}`);
    text = replaceOnce(text, '      volumeMounts:\n', '      env:\n        - name: VAULT_CACERT\n          value: /opt/kms/ca.crt\n      volumeMounts:\n');
    text = replaceOnce(text, '        path: /opt/kms\n', `        path: ${this.node.kmsDir}\n`);
    return text;
  }

  /** The same manifest with our image (docs/migrating.md step 3): -disable-v1=false for v1, -force-socket-overwrite. */
  private oursManifest(): string {
    const flags = [...(this.api === 'v1' ? ['-disable-v1=false'] : []), '-force-socket-overwrite'];
    return this.goManifest()
      .replace(`image: ${need('KMS_CLUSTER_GO_PLUGIN_IMAGE')}`, `image: ${need('KMS_CLUSTER_IMAGE')}`)
      .replace('        - -auth-method=token\n', `        - -auth-method=token\n${flags.map((f) => `        - ${f}\n`).join('')}`);
  }

  /**
   * Ours profiled. The image's executable takes no Node.js flags (its execArgvExtension is "none", so NODE_OPTIONS
   * cannot add --inspect), so the same code runs on the node as a process under the Node.js 24 it embeds, with
   * the executable's own V8 flags plus --cpu-prof, the manifest's plugin flags, and the socket at the path the
   * hostPath gives kube-apiserver. `restarts` measured kube-apiserver restarts; the profile is written at exit.
   */
  async profileOurs(entry: string, execArgv: readonly string[], dir: string, restarts: number): Promise<Sample[]> {
    const node = this.node;
    node.removeManifest(`${PLUGIN}.yaml`);
    await node.waitFor('the plugin Pod gone', () => node.podStatus(PLUGIN), (s) => s === undefined, 120_000, 1000);
    mkdirSync(dir, { recursive: true });
    const args = [
      ...execArgv,
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      entry,
      `-vault-address=${this.bao.url}`,
      '-auth-method=token',
      `-token=${readFileSync(join(node.kmsDir, 'token'), 'utf8').trim()}`,
      `-socket=unix://${join(node.kmsDir, 'vaultkms.socket')}`,
      '-force-socket-overwrite',
      ...(this.api === 'v1' ? ['-disable-v1=false'] : []),
    ];
    const out = openSync(join(dir, 'plugin.log'), 'a');
    const child = spawn(join(REPO_ROOT, '.tools/node24/bin/node'), args, { stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '', VAULT_CACERT: join(node.kmsDir, 'ca.crt') } });
    closeSync(out);
    const samples: Sample[] = [];
    try {
      await this.kmsHealthy();
      await this.restartApiserver();
      for (let round = 1; round <= restarts; round++) {
        const s = await this.measure('ours', round, false, child.pid);
        samples.push(s);
        log(`ours profiled, round ${round}: ${summary(s)}`);
      }
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    return samples;
  }

  private image(plugin: Plugin): string {
    return need(plugin === 'ours' ? 'KMS_CLUSTER_IMAGE' : 'KMS_CLUSTER_GO_PLUGIN_IMAGE');
  }

  async switchPlugin(plugin: Plugin): Promise<void> {
    this.node.writeManifest(`${PLUGIN}.yaml`, plugin === 'ours' ? this.oursManifest() : this.goManifest());
    const image = this.image(plugin);
    await this.node.waitFor(
      `${plugin} plugin Ready`,
      () => JSON.parse(this.node.kubectl(['-n', 'kube-system', 'get', 'pod', `${PLUGIN}-${NODE_NAME}`, '-o', 'json'])),
      (p) => p.spec.containers[0].image === image && p.status?.containerStatuses?.[0]?.image === image && p.status.containerStatuses[0].ready === true,
      180_000,
      1000,
    );
    await this.kmsHealthy();
  }

  private async kmsHealthy(): Promise<void> {
    await this.node.waitFor('the kms provider checks healthy', () => this.node.api('GET', '/readyz?verbose'), (r) => r.status === 200 && /\[\+\]kms-provider/.test(r.text), 120_000, 500);
  }

  /** A new kube-apiserver manifest (a changed annotation, and the flags of this API): the kubelet replaces the Pod. */
  private writeApiserverManifest(): void {
    this.generation++;
    const manifest = parse(this.node.apiserverManifest(this.apiserverFlags()));
    manifest.metadata.annotations = { 'kms-bench/generation': String(this.generation) };
    this.node.writeManifest('kube-apiserver.yaml', stringify(manifest));
  }

  /** Restarts kube-apiserver and waits until it is ready again (not measured). */
  async restartApiserver(): Promise<void> {
    const oldPid = this.node.containerPid('kube-apiserver');
    this.writeApiserverManifest();
    await this.node.waitFor('the old kube-apiserver gone', () => existsSync(`/proc/${oldPid}`), (alive) => !alive, 120_000, 100);
    await this.node.waitFor('kube-apiserver /readyz', () => this.node.api('GET', '/readyz'), (r) => r.status === 200, 240_000, 500);
    await this.kmsHealthy();
  }

  /** Writes `count` Secrets into namespace `ns` through the API, 8 at a time. */
  async writeBatch(ns: string, count: number): Promise<void> {
    const ok = (r: { status: number }) => r.status === 201 || r.status === 409;
    const nsRes = await this.node.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    if (!ok(nsRes)) throw new Error(`namespace ${ns}: ${nsRes.status} ${nsRes.text.slice(0, 300)}`);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const name = `cold-${next++}`;
        const value = randomBytes(24).toString('base64');
        const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { key: value } };
        for (let attempt = 0; ; attempt++) {
          const res = await this.node.api('POST', `/api/v1/namespaces/${ns}/secrets`, body, 30_000).catch((e) => ({ status: 0, text: String(e) }));
          if (res.status === 201) break;
          if (attempt >= 5) throw new Error(`Secret ${ns}/${name}: ${res.status} ${res.text.slice(0, 300)}`);
          await sleep(500);
        }
        this.written.set(`${ns}/${name}`, value);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  /** KMS v2: batches over several restarts and one rotation (so several DEK seeds); KMS v1: one batch. */
  async populate(): Promise<void> {
    const n = this.options.secrets;
    if (this.api === 'v1') {
      await this.writeBatch('cold-0', n);
      return;
    }
    const batches = 4;
    for (let b = 0; b < batches; b++) {
      const count = Math.floor(n / batches) + (b < n % batches ? 1 : 0);
      if (b > 0) {
        if (b === 2) log(`Transit key rotated to version ${await this.bao.rotateKey('kms')}`);
        await this.restartApiserver();
      }
      await this.writeBatch(`cold-${b}`, count);
      log(`batch ${b + 1}/${batches}: ${count} Secrets`);
    }
  }

  /** Every written Secret in a list response, with its value. */
  private check(text: string): number {
    const list = JSON.parse(text) as { items: { metadata: { namespace: string; name: string }; data?: { key?: string } }[] };
    let found = 0;
    for (const item of list.items) {
      const key = `${item.metadata.namespace}/${item.metadata.name}`;
      const want = this.written.get(key);
      if (want === undefined) continue;
      const got = Buffer.from(item.data?.key ?? '', 'base64').toString('utf8');
      if (got !== want) throw new Error(`Secret ${key} read back wrong`);
      found++;
    }
    return found;
  }

  /** One measured kube-apiserver restart. */
  async measure(plugin: Plugin, round: number, warmUp: boolean, hostPluginPid?: number): Promise<Sample> {
    const node = this.node;
    const oldPid = node.containerPid('kube-apiserver');
    const pluginPid = hostPluginPid ?? node.containerPid(PLUGIN);
    const pluginCpu0 = cpuSeconds(pluginPid);
    const baoPid = pidsOf(baoBinary())[0] ?? 0;
    const etcdPid = pidsOf('/etcd')[0] ?? 0;
    const baoCpu0 = cpuSeconds(baoPid);
    const etcdCpu0 = cpuSeconds(etcdPid);
    this.bao.resetStats();
    const auditOffset = existsSync(this.bao.auditFile) ? readFileSync(this.bao.auditFile).length : 0;
    const t0 = Date.now();
    this.writeApiserverManifest();
    while (existsSync(`/proc/${oldPid}`)) {
      if (Date.now() > t0 + 180_000) throw new Error(`the old kube-apiserver (pid ${oldPid}) did not exit within 180 s`);
      await sleep(20);
    }
    const tExit = Date.now();
    let readyAt = 0;
    let newPid = 0;
    let newStartMs = NaN;
    let listed = 0;
    const deadline = t0 + 300_000;
    // /readyz and the new process, beside the list polling.
    let done = false;
    const side = (async () => {
      while (!done) {
        if (!newPid) {
          const pid = pidsOf('/kube-apiserver').find((p) => p !== oldPid);
          if (pid) {
            newPid = pid;
            newStartMs = startedAtMs(pid);
          }
        }
        if (!readyAt) {
          const r = await node.api('GET', '/readyz', undefined, 2000).catch(() => ({ status: 0 }));
          if (r.status === 200) readyAt = Date.now();
        }
        await sleep(50);
      }
    })();
    for (;;) {
      if (Date.now() > deadline) throw new Error(`kube-apiserver did not list the Secrets within 300 s (${plugin}, round ${round})`);
      const r = await node.api('GET', '/api/v1/secrets', undefined, 60_000).catch(() => ({ status: 0, text: '' }));
      if (r.status === 200) {
        listed = this.check(r.text);
        if (listed === this.written.size) break;
      }
      await sleep(50);
    }
    const tList = Date.now();
    const apiserverCpu = newPid ? cpuSeconds(newPid) : NaN;
    const pluginCpu = cpuSeconds(pluginPid) - pluginCpu0;
    const baoCpu = cpuSeconds(baoPid) - baoCpu0;
    const etcdCpu = cpuSeconds(etcdPid) - etcdCpu0;
    while (!readyAt && Date.now() < deadline) await sleep(50);
    done = true;
    await side;
    if (Number.isNaN(pluginCpu)) throw new Error(`the ${plugin} plugin (pid ${pluginPid}) restarted during the measurement`);
    const vaultWholeWindow = this.bao.stats();
    const entries = this.bao.auditEntriesSince(auditOffset).filter((e) => !(e.auth?.policies ?? []).includes('root'));
    const inStart = entries.filter((e) => {
      const at = auditTimeMs(e.time);
      return at >= newStartMs && at <= tList;
    });
    const vault: Record<string, number> = {};
    for (const e of inStart) {
      if (e.type !== 'request') continue;
      const key = statKey(e.request?.path ?? '', e.request?.operation ?? '');
      vault[key] = (vault[key] ?? 0) + 1;
    }
    const requestAt = new Map<string, number>();
    const latencies: number[] = [];
    let first = Infinity;
    let last = -Infinity;
    for (const e of inStart) {
      const at = auditTimeMs(e.time);
      if (e.type === 'request') {
        requestAt.set(e.request?.id, at);
        first = Math.min(first, at);
        last = Math.max(last, at);
      } else if (e.type === 'response' && String(e.request?.path ?? '').startsWith('transit/decrypt/')) {
        const started = requestAt.get(e.request?.id);
        if (started !== undefined) latencies.push(at - started);
      }
    }
    return {
      plugin,
      round,
      warmUp,
      listSeconds: (tList - t0) / 1000,
      listSecondsFromExit: (tList - tExit) / 1000,
      listSecondsFromStart: (tList - newStartMs) / 1000,
      kubeletSeconds: (newStartMs - tExit) / 1000,
      readySeconds: readyAt ? (readyAt - t0) / 1000 : NaN,
      secretsListed: listed,
      pluginCpuSeconds: Math.round(pluginCpu * 100) / 100,
      apiserverCpuSeconds: Math.round(apiserverCpu * 100) / 100,
      vaultCpuSeconds: Math.round(baoCpu * 100) / 100,
      etcdCpuSeconds: Math.round(etcdCpu * 100) / 100,
      vaultRequests: Object.values(vault).reduce((a, v) => a + v, 0),
      vault,
      vaultWholeWindow,
      decryptLatencyMs: { median: median(latencies), p90: quantile(latencies, 0.9), sum: latencies.reduce((a, b) => a + b, 0) },
      vaultWindow: Number.isFinite(first) ? { first: (first - newStartMs) / 1000, last: (last - newStartMs) / 1000 } : null,
    };
  }

  async run(): Promise<Sample[]> {
    const samples: Sample[] = [];
    for (const plugin of ['ours', 'go'] as Plugin[]) {
      await this.switchPlugin(plugin);
      log(`${plugin}: Ready; warm-up restart`);
      const warm = await this.measure(plugin, 0, true);
      samples.push(warm);
      log(`${plugin} warm-up: ${summary(warm)}`);
      for (let round = 1; round <= this.options.rounds; round++) {
        const s = await this.measure(plugin, round, false);
        samples.push(s);
        log(`${plugin} round ${round}: ${summary(s)}`);
      }
    }
    return samples;
  }
}

function summary(s: Sample): string {
  return `list ${s.listSeconds.toFixed(2)} s (${s.listSecondsFromExit.toFixed(2)} s after the old process exited, ${s.listSecondsFromStart.toFixed(2)} s after the new one started), ready ${s.readySeconds.toFixed(2)} s, plugin CPU ${s.pluginCpuSeconds} s, apiserver CPU ${s.apiserverCpuSeconds} s, OpenBao CPU ${s.vaultCpuSeconds} s, etcd CPU ${s.etcdCpuSeconds} s, Vault ${JSON.stringify(s.vault)}, decrypt latency median ${s.decryptLatencyMs.median} ms`;
}

function log(msg: string): void {
  console.log(`cold-start: ${new Date().toISOString().slice(11, 19)} ${msg}`);
}

export interface ApiResult {
  readonly api: Api;
  readonly secrets: number;
  readonly dekSeeds?: number;
  readonly samples: Sample[];
  readonly medians: Record<Plugin, Record<string, number>>;
  readonly profiles?: ProfiledSeries[];
}

export interface ProfiledSeries {
  readonly v8Flags: string[];
  readonly dir: string;
  readonly samples: Sample[];
  readonly medians: Record<string, number>;
  readonly totalMs: number;
  readonly byConcern: Record<string, number>;
  readonly topFunctions: Record<string, number>;
}

/**
 * What ours is profiled as: dist/src/main.js (the compiled sources the image's bundle is made of, with module
 * paths a profile can name; the bundle is minified) and the V8 flags the executable embeds (scripts/build-artifact.mjs).
 */
function profiledEntry(): { entry: string; execArgv: string[] } {
  const script = readFileSync(join(REPO_ROOT, 'scripts/build-artifact.mjs'), 'utf8');
  const m = /execArgv: (\[[^\]]*\])/.exec(script);
  if (!m) throw new Error('scripts/build-artifact.mjs: no execArgv');
  return { entry: join(REPO_ROOT, 'dist/src/main.js'), execArgv: JSON.parse(m[1].replace(/'/g, '"')) as string[] };
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Where a profiled function's code comes from: a package, a source file, a Node.js internal, or the engine. */
function concernOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : `native: ${fn || '(anonymous)'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/dist/src/')) return `ours: ${url.slice(url.indexOf('/dist/src/') + 10).split('/').slice(0, 2).join('/')}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`;
  return url;
}

/** Self CPU time per concern and the top functions, over every .cpuprofile in dir. */
function summariseProfiles(dir: string): { totalMs: number; byConcern: Record<string, number>; topFunctions: Record<string, number> } {
  const byConcern = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalUs = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] };
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]);
      // A sample's time is the interval until the next one.
      const us = p.timeDeltas[i + 1] ?? 0;
      if (!n || n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)') continue;
      totalUs += us;
      const c = concernOf(n.callFrame.url, n.callFrame.functionName);
      byConcern.set(c, (byConcern.get(c) ?? 0) + us);
      const fn = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    }
  }
  const ms = (m: Map<string, number>, top: number) =>
    Object.fromEntries(
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => [k, Math.round(v / 1000)]),
    );
  return { totalMs: Math.round(totalUs / 1000), byConcern: ms(byConcern, 20), topFunctions: ms(byFunction, 40) };
}

function medians(samples: readonly Sample[]): Record<Plugin, Record<string, number>> {
  const out = {} as Record<Plugin, Record<string, number>>;
  for (const plugin of ['ours', 'go'] as Plugin[]) {
    const measured = samples.filter((s) => s.plugin === plugin && !s.warmUp);
    out[plugin] = {
      listSeconds: median(measured.map((s) => s.listSeconds)),
      listSecondsFromExit: median(measured.map((s) => s.listSecondsFromExit)),
      listSecondsFromStart: median(measured.map((s) => s.listSecondsFromStart)),
      kubeletSeconds: median(measured.map((s) => s.kubeletSeconds)),
      readySeconds: median(measured.map((s) => s.readySeconds)),
      pluginCpuSeconds: median(measured.map((s) => s.pluginCpuSeconds)),
      apiserverCpuSeconds: median(measured.map((s) => s.apiserverCpuSeconds)),
      vaultCpuSeconds: median(measured.map((s) => s.vaultCpuSeconds)),
      etcdCpuSeconds: median(measured.map((s) => s.etcdCpuSeconds)),
      vaultRequests: median(measured.map((s) => s.vaultRequests)),
      decrypts: median(measured.map((s) => s.vault['transit.decrypt'] ?? 0)),
      decryptLatencyMedianMs: median(measured.map((s) => s.decryptLatencyMs.median)),
    };
  }
  return out;
}

export function table(results: readonly ApiResult[]): string {
  const lines = [
    '| KMS | Secrets | plugin | all Secrets listed, from the new kube-apiserver process start (median of 3, s) | from the manifest edit (s) | kubelet: old process exit to new start (s) | /readyz from the manifest edit (s) | plugin CPU (s) | kube-apiserver CPU (s) | OpenBao CPU (s) | etcd CPU (s) | Vault requests | of them transit/decrypt |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results)
    for (const plugin of ['ours', 'go'] as Plugin[]) {
      const m = r.medians[plugin];
      const runs = r.samples
        .filter((s) => s.plugin === plugin && !s.warmUp)
        .map((s) => s.listSecondsFromStart.toFixed(2))
        .join(', ');
      const name = plugin === 'ours' ? 'this project (image)' : 'Go plugin v1.4.0';
      lines.push(
        `| ${r.api} | ${r.secrets.toLocaleString('en-US')} | ${name} | ${m.listSecondsFromStart.toFixed(2)} (${runs}) | ${m.listSeconds.toFixed(2)} | ${m.kubeletSeconds.toFixed(2)} | ${m.readySeconds.toFixed(2)} | ${m.pluginCpuSeconds.toFixed(2)} | ${m.apiserverCpuSeconds.toFixed(2)} | ${m.vaultCpuSeconds.toFixed(2)} | ${m.etcdCpuSeconds.toFixed(2)} | ${m.vaultRequests} | ${m.decrypts} |`,
      );
    }
  return lines.join('\n');
}

/**
 * Distinct encrypted DEK seeds among the stored v2 Secrets, from two Secrets of each batch read from etcd: a
 * stored value is k8s:enc:kms:v2:<name>:<EncryptedObject>, which carries the plugin's ciphertext of the seed
 * (vault:v<key version>:...) in the clear.
 */
async function countDekSeeds(node: ClusterNode): Promise<number> {
  const seeds = new Set<string>();
  for (let b = 0; b < 4; b++) {
    for (const i of [0, 1]) {
      const v = await node.etcdGet(`/registry/secrets/cold-${b}/cold-${i}`);
      const m = v && /vault:v\d+:[A-Za-z0-9+/=]+/.exec(v.toString('latin1'));
      if (m) seeds.add(m[0]);
    }
  }
  return seeds.size;
}

async function runApi(api: Api, options: Options): Promise<ApiResult> {
  log(`${api}: deploying the node`);
  const d = await deploy();
  const { node, bao } = d;
  try {
    const bench = new ColdStartBench(node, bao, api, options);
    // The plugin as the migration test runs it (token auth, the Go plugin's manifest), then the apiserver on this API.
    await bench.switchPlugin('ours');
    if (api === 'v1') {
      node.installEncryptionConfig('encryption-config-v1.yaml');
      await bench.restartApiserver();
    }
    log(`${api}: writing ${options.secrets} Secrets`);
    await bench.populate();
    const dekSeeds = api === 'v2' ? await countDekSeeds(node) : undefined;
    log(`${api}: ${dekSeeds ?? 'no'} distinct DEK seeds among the sampled Secrets`);
    const samples = options.compare ? await bench.run() : [];
    const profiles: ProfiledSeries[] = [];
    if (options.profile) {
      const ours = profiledEntry();
      const variants = [ours.execArgv, ...(options.profileV8Flags ? [options.profileV8Flags] : [])];
      for (const [i, flags] of variants.entries()) {
        const dir = join(options.out, `cold-start-prof-${api}${i ? `-${i}` : ''}`);
        rmSync(dir, { recursive: true, force: true });
        log(`${api}: ours profiled with ${flags.join(' ')}`);
        const profiled = await bench.profileOurs(ours.entry, flags, dir, options.rounds);
        const series = { v8Flags: flags, dir, samples: profiled, medians: medians(profiled).ours, ...summariseProfiles(dir) };
        writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(series, null, 2)}\n`);
        log(`${api}: profile in ${dir}: medians ${JSON.stringify(series.medians)}; self time by origin (ms) ${JSON.stringify(series.byConcern)}`);
        profiles.push(series);
      }
    }
    return { api, secrets: options.secrets, dekSeeds, samples, medians: medians(samples), profiles };
  } finally {
    await node.tearDown(process.env.KMS_CLUSTER_KEEP === '1');
    await bao.close();
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(options.out, { recursive: true });
  const results: ApiResult[] = [];
  for (const api of options.apis) {
    const r = await runApi(api, options);
    results.push(r);
    writeFileSync(join(options.out, `cold-start-${api}.json`), `${JSON.stringify({ when: new Date().toISOString(), image: need('KMS_CLUSTER_IMAGE'), goImage: need('KMS_CLUSTER_GO_PLUGIN_IMAGE'), k8s: process.env.KMS_CLUSTER_K8S_VERSION, ...r }, null, 2)}\n`);
  }
  if (results.some((r) => r.samples.length > 0)) console.log(`\n${table(results.filter((r) => r.samples.length > 0))}\n`);
}

main().catch((e) => {
  console.error(`cold-start: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
