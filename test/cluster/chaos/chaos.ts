/**
 * Faults while the cluster serves (issue 21, part 1): a kubelet node (test/cluster/node.ts) runs etcd,
 * kube-apiserver (KMS v2) and a KMS plugin as static Pods against a real 3-node OpenBao Raft cluster
 * (test/support/openbao-raft.ts), while SecretLoad writes and reads Secrets through kube-apiserver at a
 * steady rate. First our plugin (manifests/static-pod-token.yaml, all three addresses), then the Go plugin
 * v1.4.0 (its upstream static Pod, the one address its documentation shows: the first node), on the same node,
 * swapped as an operator swaps them: by replacing the static Pod's manifest. Each takes the same faults, one at
 * a time, each followed by recovery; then the load stops and every Secret ever written is read back.
 *
 * The process must run in the node's private network namespace, as root (test/cluster/run.sh).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ClusterNode, NODE_NAME, binariesFromEnv } from '../node';
import { pluginManifest } from '../plugin-manifest';
import { RaftCluster, type RaftNode } from '../../support/openbao-raft';
import { sleep } from '../../support/plugin-process';
import { realServerBinary } from '../../support/real-server';
import { SecretLoad, type FinalCheck } from './load';

export const PLUGIN = 'vault-kubernetes-kms';
export type PluginKind = 'ours' | 'go';
export const FAULTS = [
  'raft-active-killed',
  'raft-active-killed-again',
  'vault-sealed-30s',
  'transit-rotated-and-reencrypted',
  'token-revoked-and-replaced',
  'plugin-sigkilled',
  'plugin-image-swapped',
  'apiserver-restarted',
] as const;
export type FaultName = (typeof FAULTS)[number];

export interface ChaosOptions {
  /** Seconds each plugin spends under scheduled faults; 0: every fault once (the short run). */
  readonly secondsPerPlugin: number;
  /** Seconds of plain load between two faults in the scheduled (long) run. */
  readonly gapSeconds: number;
  readonly writesPerSecond: number;
  readonly readsPerSecond: number;
  readonly secrets: number;
  /** Seconds without a failed request (and with the plugin Ready) that make a recovery. */
  readonly quietSeconds: number;
  /** Generous: a fault not recovered from within this is a failed run. */
  readonly recoveryTimeoutSeconds: number;
  readonly log: (line: string) => void;
}

export interface FaultResult {
  readonly plugin: PluginKind;
  readonly fault: FaultName;
  /** Seconds since the run started. */
  readonly at: number;
  readonly notes: string;
  readonly writes: number;
  readonly reads: number;
  readonly failedWrites: number;
  readonly failedReads: number;
  /** Seconds the fault's own steps took (for the seal: 30 s sealed, then the unseal). */
  readonly faultSeconds: number;
  /** Seconds from the fault to the end of the first successful request after the first failure (null: none failed). */
  readonly firstSuccessSeconds: number | null;
  /**
   * Seconds from the fault to the end of the last failed request or of the last health poll (every second) that
   * found kube-apiserver's /readyz or the plugin's Pod not ready, whichever came later; 0 if neither happened.
   */
  readonly recoverySeconds: number;
  /** Times the kubelet restarted the plugin's container during the fault (beyond a planned replacement). */
  readonly pluginRestarts: number;
  /** The most frequent errors, with counts. */
  readonly errors: { error: string; count: number }[];
  readonly recovered: boolean;
  /**
   * When the plugin did not recover by itself and its log named the fix, what the operator then did
   * (the Go plugin after a SIGKILL: "Use -force-socket-overwrite"), and seconds from the fault until it served.
   */
  readonly remedy?: { action: string; recoveredSeconds: number | null };
}

export type CheckResult = Omit<FinalCheck, 'lost' | 'unreadable' | 'wrong'> & { lost: number; unreadable: number; wrong: number; examples: string[] };

export interface Sample {
  readonly at: number;
  readonly plugin: PluginKind;
  readonly rssMiB: number;
  readonly fds: number;
}

export interface Bucket {
  readonly at: number;
  okWrites: number;
  failedWrites: number;
  okReads: number;
  failedReads: number;
}

export interface ChaosResult {
  readonly startedAt: string;
  readonly seconds: number;
  readonly options: Omit<ChaosOptions, 'log'>;
  readonly versions: Record<string, string>;
  readonly faults: FaultResult[];
  /** Per plugin: every Secret ever written, read back after its faults (the load stopped). */
  readonly checks: Partial<Record<PluginKind, CheckResult>>;
  /** Set when the run stopped early: a fault not recovered from, or a step that failed. */
  readonly error?: string;
  readonly wrongReadsDuringLoad: number;
  readonly generatorSkipped: { write: number; read: number };
  readonly samples: Sample[];
  /** Requests per 5 s bucket over the whole run, and the phases (which plugin served when). */
  readonly timeline: Bucket[];
  readonly phases: { plugin: PluginKind; from: number; to: number }[];
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through test/cluster/run.sh (npm run test:chaos or npm run chaos:long)`);
  return v;
}

/** The plugin's main process in this network namespace (both images start /vault-kubernetes-kms). */
function pluginPid(): number | undefined {
  const ours = readlinkSync('/proc/self/ns/net');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0];
      if (argv0 === '/vault-kubernetes-kms' && readlinkSync(`/proc/${entry}/ns/net`) === ours) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

function sampleOf(pid: number): { rssMiB: number; fds: number } | undefined {
  try {
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { rssMiB: rss ? Number(rss[1]) / 1024 : 0, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

export class ChaosRun {
  private node!: ClusterNode;
  private raft!: RaftCluster;
  private load!: SecretLoad;
  private readonly t0 = Date.now();
  private plugin: PluginKind = 'ours';
  private image = '';
  private pluginToken = '';
  private tagCount = 0;
  /** Set once the Go plugin's crash loop on its own leftover socket made the operator add the flag it names. */
  private goForceSocketOverwrite = false;
  private apiserverGeneration = 0;
  private readonly faults: FaultResult[] = [];
  private readonly samples: Sample[] = [];
  private readonly phases: { plugin: PluginKind; from: number; to: number }[] = [];
  private sampler: NodeJS.Timeout | undefined;

  constructor(private readonly o: ChaosOptions) {}

  private since(ms = Date.now()): number {
    return Math.round((ms - this.t0) / 100) / 10;
  }

  // ---- the node and Vault --------------------------------------------------------------------------------

  async setUp(): Promise<void> {
    this.o.log('chaos: starting a 3-node OpenBao Raft cluster');
    // Raft timing 1: elections in 1 to 3 s (docs/ha.md); the same cluster for both plugins.
    this.raft = await RaftCluster.start({ performanceMultiplier: 1 });
    this.node = new ClusterNode(mkdtempSync('/tmp/kmsc-'), need('KMS_CLUSTER_NODE_IP'), binariesFromEnv());
    const node = this.node;
    node.makePki();
    node.installEncryptionConfig('encryption-config-v2.yaml');
    node.makeKmsDir();
    this.writeTokenFile(this.raft.kmsToken);
    this.pluginToken = this.raft.kmsToken;
    this.image = need('KMS_CLUSTER_IMAGE');
    node.writeManifest('etcd.yaml', node.etcdManifest());
    node.writeManifest(`${PLUGIN}.yaml`, this.oursManifest());
    node.writeManifest('kube-apiserver.yaml', node.apiserverManifest());
    await node.startContainerd();
    node.importClusterImages();
    node.importImage(need('KMS_CLUSTER_IMAGE_ARCHIVE'));
    await node.startKubelet();
    this.o.log('chaos: kubelet started; waiting for kube-apiserver and the plugin');
    await this.waitHealthy(300_000);
    this.load = new SecretLoad({
      apiserverUrl: node.apiserverUrl,
      pki: node.pki,
      namespace: 'default',
      writesPerSecond: this.o.writesPerSecond,
      readsPerSecond: this.o.readsPerSecond,
      secrets: this.o.secrets,
    });
  }

  async tearDown(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    await this.load?.close().catch(() => undefined);
    await this.node?.tearDown(process.env.KMS_CLUSTER_KEEP === '1').catch((e) => this.o.log(`chaos: tear-down: ${e}`));
    await this.raft?.close().catch(() => undefined);
  }

  /** The token file as docs/setup.md makes it: 65532:65532, 0400; replaced atomically. */
  private writeTokenFile(token: string): void {
    const tmp = join(this.node.kmsDir, '.token.new');
    writeFileSync(tmp, `${token}\n`, { mode: 0o400 });
    chownSync(tmp, 65532, 65532);
    renameSync(tmp, join(this.node.kmsDir, 'token'));
  }

  /** Ours: manifests/static-pod-token.yaml with every Raft address; Vault speaks plain HTTP here, so no CA. */
  private oursManifest(): string {
    const text = pluginManifest('static-pod-token.yaml', { image: this.image, vaultAddr: this.raft.urls.join(','), kmsHostPath: this.node.kmsDir });
    const caEnv = '      env:\n        - name: VAULT_CACERT\n          value: /opt/kms/ca.crt\n';
    if (!text.includes(caEnv)) throw new Error('manifests/static-pod-token.yaml: its VAULT_CACERT env block changed');
    return text.replace(caEnv, '');
  }

  /** The Go plugin's upstream static Pod (assets/vault-kubernetes-kms.yml): the first node's address, the token on the command line. */
  private goManifest(): string {
    let text = readFileSync(join(need('KMS_CLUSTER_GO_PLUGIN_SRC'), 'assets/vault-kubernetes-kms.yml'), 'utf8');
    const swap = (from: string, to: string) => {
      if (text.split(from).length !== 2) throw new Error(`the Go plugin's manifest: "${from}" not found exactly once`);
      text = text.replace(from, to);
    };
    swap('image: falcosuessgott/vault-kubernetes-kms:latest', `image: ${this.image}`);
    swap('-vault-address=http://host.docker.internal:8200', `-vault-address=${this.raft.nodes[0].url}`);
    swap('-token=root', `-token=${this.pluginToken}`);
    swap('        path: /opt/kms\n', `        path: ${this.node.kmsDir}\n`);
    if (this.goForceSocketOverwrite) swap('        - -auth-method=token\n', '        - -auth-method=token\n        - -force-socket-overwrite\n');
    return text;
  }

  private writePluginManifest(): void {
    this.node.writeManifest(`${PLUGIN}.yaml`, this.plugin === 'ours' ? this.oursManifest() : this.goManifest());
  }

  private async pod(name: string): Promise<any | undefined> {
    const res = await this.node.api('GET', `/api/v1/namespaces/kube-system/pods/${name}-${NODE_NAME}`, undefined, 5000).catch(() => undefined);
    return res?.status === 200 ? JSON.parse(res.text) : undefined;
  }

  /** Async only: a synchronous kubectl would stall the load generator's event loop. */
  private async pluginStatus(): Promise<{ ready: boolean; image: string; restarts: number; containerId: string } | undefined> {
    const p = await this.pod(PLUGIN);
    const c = p?.status?.containerStatuses?.[0];
    if (!c) return undefined;
    return { ready: c.ready === true && p.spec.containers[0].image === this.image, image: c.image, restarts: c.restartCount ?? 0, containerId: c.containerID ?? '' };
  }

  /** kube-apiserver ready (its kms-providers check included) and the plugin's Pod Ready with the expected image. */
  private async healthy(): Promise<boolean> {
    const ready = await this.node.api('GET', '/readyz', undefined, 5000).catch(() => undefined);
    if (ready?.status !== 200) return false;
    // The container's reported image may name another tag of the same image: the Pod's spec is what was asked for.
    const s = await this.pluginStatus();
    return !!s && s.ready;
  }

  private async waitHealthy(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (!(await this.healthy())) {
      if (Date.now() > until) throw new Error(`not healthy after ${timeoutMs / 1000} s (plugin ${this.plugin}); kubelet:\n${this.node.tail('kubelet.log', 10)}`);
      await sleep(500);
    }
    return Date.now();
  }

  private async activeNode(): Promise<RaftNode> {
    return this.raft.waitForActive(120_000);
  }

  private async vault(method: string, path: string, body?: unknown): Promise<any> {
    const active = await this.activeNode();
    const res = await active.request(method, path, body, this.raft.rootToken, 30_000);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
    return res.json;
  }

  // ---- the faults ------------------------------------------------------------------------------------------

  /**
   * Before the first Raft fault: the first node (the Go plugin's one address) made the active one, with
   * sys/step-down, so the Go plugin meets the case its documentation leaves it in; the second Raft fault then
   * finds it a standby (restarted nodes rejoin as standbys).
   */
  private async firstNodeActive(): Promise<void> {
    const first = this.raft.nodes[0];
    for (let i = 0; i < 10 && (await first.role()) !== 'active'; i++) {
      const active = await this.activeNode();
      await active.request('PUT', 'sys/step-down', undefined, this.raft.rootToken, 10_000).catch(() => undefined);
      await sleep(1000);
      await this.raft.waitForActive(60_000);
    }
    if ((await first.role()) !== 'active') throw new Error(`${first.spec.id} did not become the active node after 10 step-downs`);
    await sleep(5000);
  }

  private async killActive(): Promise<string> {
    const active = await this.activeNode();
    const first = this.raft.nodes[0];
    const firstRole = await first.role();
    await active.kill();
    const killedAt = Date.now();
    const next = await this.raft.waitForActive(120_000, active);
    const electedAfter = (Date.now() - killedAt) / 1000;
    // Down for 15 s, then started again and unsealed, as an operator or a StatefulSet would.
    await sleep(Math.max(0, 15_000 - (Date.now() - killedAt)));
    await this.raft.restart(active);
    const where = this.plugin === 'ours' ? 'ours has all three addresses' : `the Go plugin's one address (${first.spec.id}) was ${active === first ? 'the active node' : `a ${firstRole}`}`;
    return `SIGKILLed ${active.spec.id} (active); ${where}; ${next.spec.id} active after ${electedAfter.toFixed(1)} s; ${active.spec.id} restarted and unsealed after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`;
  }

  private async sealAll(): Promise<string> {
    // The active node with sys/seal; a standby refuses to seal, so it is restarted and comes back sealed.
    const how: string[] = [];
    for (let round = 0; round < 5; round++) {
      const roles = await Promise.all(this.raft.nodes.map((n) => n.role()));
      if (roles.every((r) => r === 'sealed')) break;
      for (const [i, n] of this.raft.nodes.entries()) {
        if (roles[i] === 'sealed') continue;
        const res = await n.request('PUT', 'sys/seal', undefined, this.raft.rootToken, 10_000).catch(() => ({ status: 0 }));
        if (res.status === 204 || res.status === 200) {
          how.push(`${n.spec.id} sys/seal`);
          continue;
        }
        await n.stop();
        n.start();
        how.push(`${n.spec.id} restarted sealed`);
      }
      await sleep(1000);
    }
    const roles = await Promise.all(this.raft.nodes.map((n) => n.role()));
    if (!roles.every((r) => r === 'sealed')) throw new Error(`not every node sealed: ${roles.join(', ')}`);
    await sleep(30_000);
    for (const n of this.raft.nodes) await this.raft.unseal(n);
    await this.raft.waitForActive(120_000);
    return `every node sealed (${how.join(', ')}) for 30 s, then unsealed`;
  }

  private async rotateAndReencrypt(): Promise<string> {
    const before = await this.vault('GET', 'transit/keys/kms');
    await this.vault('POST', 'transit/keys/kms/rotate');
    const rotatedAt = Date.now();
    const version = before.data.latest_version + 1;
    // kube-apiserver takes a new DEK seed once the plugin's Status reports the new key_id (it polls Status about
    // once a minute): until then a re-encryption would only re-encrypt under the old one. A canary Secret written
    // every 2 s shows when its stored DEK seed is Transit ciphertext of the new version.
    let pickedUp = 0;
    while (Date.now() - rotatedAt < 180_000) {
      // A changed value each time: kube-apiserver skips writing an unchanged object whose encryption is not stale.
      const canary = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'chaos-canary', namespace: 'default' }, stringData: { value: String(Date.now()) } };
      const put = await this.node.api('PUT', '/api/v1/namespaces/default/secrets/chaos-canary', canary, 5000).catch(() => undefined);
      if (put?.status === 404) await this.node.api('POST', '/api/v1/namespaces/default/secrets', canary, 5000).catch(() => undefined);
      const stored = await this.node.etcdGet('/registry/secrets/default/chaos-canary').catch(() => undefined);
      if (stored?.includes(Buffer.from(`vault:v${version}:`))) {
        pickedUp = Date.now();
        break;
      }
      await sleep(2000);
    }
    const started = Date.now();
    const kubectl = `'${this.node.bin.kubectl}' --kubeconfig='${this.node.adminConf}' --request-timeout=60s`;
    const child = spawn('bash', ['-c', `set -o pipefail; ${kubectl} get secrets -A -o json | ${kubectl} replace -f - | wc -l`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    const took = (Date.now() - started) / 1000;
    const conflicts = (err.match(/the object has been modified/g) ?? []).length;
    const otherErrors = err.split('\n').filter((l) => l.trim() && !l.includes('the object has been modified')).slice(0, 3);
    return (
      `Transit key version ${before.data.latest_version} -> ${version}; ` +
      (pickedUp ? `new writes used it after ${((pickedUp - rotatedAt) / 1000).toFixed(1)} s; ` : 'new writes did not use it within 180 s; ') +
      `kubectl get secrets -A -o json | kubectl replace -f -: ` +
      `${out.trim()} replaced in ${took.toFixed(1)} s, exit ${code}` +
      (conflicts ? `, ${conflicts} conflicts with the load's own updates (replaced by the load anyway)` : '') +
      (otherErrors.length ? `; errors: ${otherErrors.join(' | ').slice(0, 300)}` : '')
    );
  }

  private async revokeToken(): Promise<string> {
    await this.vault('POST', 'auth/token/revoke', { token: this.pluginToken });
    const revokedAt = Date.now();
    // An operator's delay: the plugin runs on a revoked token for 5 s.
    await sleep(5000);
    const created = await this.vault('POST', 'auth/token/create-orphan', { policies: ['kms'], no_default_policy: true, ttl: '24h' });
    this.pluginToken = created.auth.client_token;
    if (this.plugin === 'ours') {
      this.writeTokenFile(this.pluginToken);
      return `token revoked; 5 s later a new one written to the token file (-token-file, read again at login; no restart)`;
    }
    this.writePluginManifest();
    return `token revoked; 5 s later the manifest's -token= edited (the Go plugin reads no token file), so the kubelet replaced the Pod ${((Date.now() - revokedAt) / 1000).toFixed(1)} s after the revocation`;
  }

  private async killPlugin(): Promise<string> {
    let pid = pluginPid();
    for (let i = 0; i < 60 && !pid; i++) {
      await sleep(500);
      pid = pluginPid();
    }
    if (!pid) throw new Error('no plugin process in this network namespace for 30 s');
    process.kill(pid, 'SIGKILL');
    return `SIGKILL to pid ${pid}; the kubelet restarts the container`;
  }

  private async swapImage(): Promise<string> {
    const from = this.image;
    const to = `${from}-chaos${++this.tagCount}`;
    this.node.ctr(['-n', 'k8s.io', 'images', 'tag', '--force', from, to]);
    this.image = to;
    this.writePluginManifest();
    return `manifest edited: image ${from.split('/').pop()} -> ${to.split('/').pop()} (same content, new tag)`;
  }

  private async restartApiserver(): Promise<string> {
    const old = (await this.pod('kube-apiserver'))?.status?.containerStatuses?.[0]?.containerID;
    const manifest = parse(this.node.apiserverManifest());
    manifest.metadata.annotations = { 'kms-chaos/generation': String(++this.apiserverGeneration) };
    this.node.writeManifest('kube-apiserver.yaml', stringify(manifest));
    const until = Date.now() + 300_000;
    for (;;) {
      const id = (await this.pod('kube-apiserver'))?.status?.containerStatuses?.[0]?.containerID;
      if (id && id !== old) break;
      if (Date.now() > until) throw new Error('kube-apiserver was not replaced');
      await sleep(500);
    }
    return 'kube-apiserver static Pod replaced (manifest annotation changed)';
  }

  private run(fault: FaultName): Promise<string> {
    switch (fault) {
      case 'raft-active-killed':
      case 'raft-active-killed-again':
        return this.killActive();
      case 'vault-sealed-30s':
        return this.sealAll();
      case 'transit-rotated-and-reencrypted':
        return this.rotateAndReencrypt();
      case 'token-revoked-and-replaced':
        return this.revokeToken();
      case 'plugin-sigkilled':
        return this.killPlugin();
      case 'plugin-image-swapped':
        return this.swapImage();
      case 'apiserver-restarted':
        return this.restartApiserver();
    }
  }

  /** One fault, then recovery: healthy, and quietSeconds without a failed request. */
  private async measure(fault: FaultName): Promise<FaultResult> {
    if (fault === 'raft-active-killed') await this.firstNodeActive();
    const start = Date.now();
    const restartsBefore = (await this.pluginStatus())?.restarts ?? 0;
    const containerBefore = (await this.pluginStatus())?.containerId;
    // These end with another container: recovery waits for it (the old one stays Ready until the kubelet acts).
    const newContainer = fault === 'plugin-sigkilled' || fault === 'plugin-image-swapped' || (fault === 'token-revoked-and-replaced' && this.plugin === 'go');
    const healthy = async (): Promise<boolean> => (await this.healthy()) && (!newContainer || (await this.pluginStatus())?.containerId !== containerBefore);
    this.o.log(`chaos: [${this.since(start)} s] ${this.plugin}: ${fault}`);
    // Health polled every second from the fault on: the last poll that failed ends the outage as kube-apiserver saw it.
    let lastUnhealthy = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        if (!(await healthy())) lastUnhealthy = Date.now();
        await sleep(1000);
      }
    })();
    let notes: string;
    let recovered = true;
    try {
      notes = await this.run(fault);
    } catch (e) {
      notes = `the fault's own steps failed: ${(e as Error).message.slice(0, 300)}`;
      recovered = false;
    }
    const faultEnd = Date.now();
    // Restarts while the fault lasts are the fault's (the Go plugin's liveness probe fails while Vault is sealed).
    const restartsAtFaultEnd = (await this.pluginStatus())?.restarts ?? restartsBefore;
    const deadline = start + this.o.recoveryTimeoutSeconds * 1000;
    let recoveredAt = 0;
    while (recovered) {
      if (Date.now() > deadline) {
        recovered = false;
        break;
      }
      // A crash loop does not end by itself: three restarts after the fault's steps and still not Ready.
      const now = await this.pluginStatus();
      if (now && !now.ready && now.restarts - Math.min(restartsAtFaultEnd, now.restarts) >= 3) {
        recovered = false;
        break;
      }
      const lastFailureEnd = this.load.failures.filter((f) => f.at >= start).reduce((m, f) => Math.max(m, f.at + f.took), 0);
      const quietSince = Math.max(faultEnd, lastUnhealthy, lastFailureEnd);
      if (Date.now() - quietSince >= this.o.quietSeconds * 1000 && this.load.stalled(2000) === 0 && (await healthy())) {
        recoveredAt = Math.max(lastUnhealthy, lastFailureEnd);
        break;
      }
      await sleep(500);
    }
    let remedy: FaultResult['remedy'];
    if (!recovered && this.plugin === 'go' && !this.goForceSocketOverwrite && this.pluginLog().includes('Use -force-socket-overwrite')) {
      // What its log tells the operator to do: the flag, in its static Pod.
      this.goForceSocketOverwrite = true;
      this.writePluginManifest();
      let served: number | null = null;
      try {
        served = await this.waitHealthy(this.o.recoveryTimeoutSeconds * 1000);
      } catch {
        served = null;
      }
      remedy = { action: 'the log says "Use -force-socket-overwrite": added to the static Pod', recoveredSeconds: served ? Math.round((served - start) / 100) / 10 : null };
      this.o.log(`chaos: go ${fault}: crash loop; ${remedy.action}; serving again ${remedy.recoveredSeconds ?? 'NOT'} s after the fault`);
    }
    polling = false;
    await poller;
    const end = Date.now();
    const outcomes = this.load.outcomes.filter((x) => x.at >= start && x.at < end);
    const failures = this.load.failures.filter((f) => f.at >= start && f.at < end);
    const firstFailure = failures.reduce((m, f) => Math.min(m, f.at), Infinity);
    const firstSuccess = outcomes.filter((x) => x.ok && x.at > firstFailure).reduce((m, x) => Math.min(m, x.at + x.took), Infinity);
    const counts = new Map<string, number>();
    for (const f of failures) counts.set(`${f.op} ${f.status}: ${f.error}`, (counts.get(`${f.op} ${f.status}: ${f.error}`) ?? 0) + 1);
    const status = await this.pluginStatus();
    // A replaced Pod (token edit of the Go manifest, image swap) starts a new container at restart count 0.
    const replaced = fault === 'plugin-image-swapped' || (fault === 'token-revoked-and-replaced' && this.plugin === 'go');
    const restarts = Math.max(0, (status?.restarts ?? 0) - (replaced ? 0 : restartsBefore) - (fault === 'plugin-sigkilled' ? 1 : 0));
    const result: FaultResult = {
      plugin: this.plugin,
      fault,
      at: this.since(start),
      notes,
      writes: outcomes.filter((x) => x.op === 'write').length,
      reads: outcomes.filter((x) => x.op === 'read').length,
      failedWrites: failures.filter((f) => f.op === 'write').length,
      failedReads: failures.filter((f) => f.op === 'read').length,
      faultSeconds: Math.round((faultEnd - start) / 100) / 10,
      firstSuccessSeconds: Number.isFinite(firstSuccess) ? Math.round((firstSuccess - start) / 100) / 10 : null,
      recoverySeconds: recovered ? (recoveredAt ? Math.round((recoveredAt - start) / 100) / 10 : 0) : Math.round((end - start) / 100) / 10,
      pluginRestarts: containerBefore === status?.containerId && fault !== 'plugin-sigkilled' ? 0 : restarts,
      errors: [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([error, count]) => ({ error, count })),
      recovered,
      remedy,
    };
    this.o.log(
      `chaos: ${this.plugin} ${fault}: ${result.failedWrites}/${result.writes} writes and ${result.failedReads}/${result.reads} reads failed; ` +
        `fault ${result.faultSeconds} s, first success ${result.firstSuccessSeconds ?? '-'} s, recovered ${recovered ? `after ${result.recoverySeconds} s` : 'NOT'}; ${notes}`,
    );
    return result;
  }

  /** The newest log file of the plugin's container (the kubelet keeps the previous one too). */
  private pluginLog(): string {
    const pods = join(this.node.base, 'var/log/pods');
    let text = '';
    for (const pod of readdirSync(pods).filter((d) => d.startsWith(`kube-system_${PLUGIN}-`))) {
      const dir = join(pods, pod, PLUGIN);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) text += readFileSync(join(dir, f), 'utf8').slice(-20_000);
    }
    return text;
  }

  private startSampler(): void {
    let pid: number | undefined;
    this.sampler = setInterval(() => {
      let s = pid ? sampleOf(pid) : undefined;
      if (!s || !existsSync(`/proc/${pid}`)) {
        pid = pluginPid();
        s = pid ? sampleOf(pid) : undefined;
      }
      if (s) this.samples.push({ at: this.since(), plugin: this.plugin, ...s });
    }, 5000);
  }

  /** Stops the load, reads every Secret back, starts the load again (unless last). */
  private async check(restart: boolean): Promise<CheckResult> {
    await this.load.stop();
    this.o.log(`chaos: reading back every Secret written so far (${this.load.secretsWritten})`);
    const c = await this.load.checkAll();
    if (restart) this.load.start();
    const examples = [...c.lost.map((n) => `lost ${n}`), ...c.unreadable.map((u) => `unreadable ${u.name}: ${u.error}`), ...c.wrong.map((n) => `wrong value ${n}`)].slice(0, 10);
    this.o.log(`chaos: ${c.checked} read back, ${c.lost.length} lost, ${c.unreadable.length} unreadable, ${c.wrong.length} wrong`);
    return { acknowledged: c.acknowledged, checked: c.checked, lost: c.lost.length, unreadable: c.unreadable.length, wrong: c.wrong.length, examples };
  }

  private async phase(kind: PluginKind): Promise<void> {
    const from = this.since();
    const until = Date.now() + this.o.secondsPerPlugin * 1000;
    let first = true;
    try {
      for (;;) {
        for (const fault of FAULTS) {
          if (!first && Date.now() > until) break;
          if (this.o.secondsPerPlugin > 0 && this.o.gapSeconds > 0) await sleep(this.o.gapSeconds * 1000);
          const r = await this.measure(fault);
          this.faults.push(r);
          if (!r.recovered && !(r.remedy && r.remedy.recoveredSeconds !== null)) throw new Error(`${kind}: no recovery from ${fault} within ${this.o.recoveryTimeoutSeconds} s: ${r.notes}`);
        }
        first = false;
        if (Date.now() > until) break;
      }
    } finally {
      this.phases.push({ plugin: kind, from, to: this.since() });
    }
  }

  async execute(): Promise<ChaosResult> {
    const startedAt = new Date().toISOString();
    this.startSampler();
    this.load.start();
    // Some Secrets exist before the first fault.
    const warmUp = Math.min(60, Math.ceil(this.o.secrets / this.o.writesPerSecond / 2));
    this.o.log(`chaos: load running (${this.o.writesPerSecond} writes/s, ${this.o.readsPerSecond} reads/s, up to ${this.o.secrets} Secrets); warm-up ${warmUp} s`);
    await sleep(warmUp * 1000);
    const checks: ChaosResult['checks'] = {};
    let error: string | undefined;
    try {
      await this.phase('ours');
      checks.ours = await this.check(true);
      // The swap, as docs/migrating.md "Going back" does it: the static Pod's manifest replaced.
      this.plugin = 'go';
      this.image = need('KMS_CLUSTER_GO_PLUGIN_IMAGE');
      const created = await this.vault('POST', 'auth/token/create-orphan', { policies: ['kms'], no_default_policy: true, ttl: '24h' });
      this.pluginToken = created.auth.client_token;
      this.writePluginManifest();
      this.o.log('chaos: the Go plugin replaces ours');
      await this.waitHealthy(300_000);
      await sleep(5000);
      await this.phase('go');
      checks.go = await this.check(false);
    } catch (e) {
      // What was measured is still reported, and every Secret still read back.
      error = (e as Error).message;
      this.o.log(`chaos: stopped: ${error}`);
      if (!checks[this.plugin]) checks[this.plugin] = await this.check(false).catch(() => undefined);
    }
    if (this.sampler) clearInterval(this.sampler);
    const timeline = new Map<number, ChaosResult['timeline'][number]>();
    for (const x of this.load.outcomes) {
      const at = Math.floor((x.at - this.t0) / 5000) * 5;
      const b = timeline.get(at) ?? { at, okWrites: 0, failedWrites: 0, okReads: 0, failedReads: 0 };
      if (x.op === 'write') x.ok ? b.okWrites++ : b.failedWrites++;
      else x.ok ? b.okReads++ : b.failedReads++;
      timeline.set(at, b);
    }
    const { log: _log, ...options } = this.o;
    return {
      startedAt,
      seconds: this.since(),
      options,
      versions: {
        plugin: need('KMS_CLUSTER_IMAGE').split('/').pop() as string,
        goPlugin: need('KMS_CLUSTER_GO_PLUGIN_IMAGE').split('/').pop() as string,
        kubernetes: need('KMS_CLUSTER_K8S_VERSION'),
        openbao: spawnSync(realServerBinary('openbao'), ['version'], { encoding: 'utf8' }).stdout?.trim() ?? '',
      },
      faults: this.faults,
      checks,
      error,
      wrongReadsDuringLoad: this.load.wrongReads.length,
      generatorSkipped: this.load.skipped,
      samples: this.samples,
      timeline: [...timeline.values()].sort((a, b) => a.at - b.at),
      phases: this.phases,
    };
  }
}
