/**
 * npm run test:cluster: the plugin deployed the way docs/setup.md deploys it, on a real node.
 * A kubelet and containerd run etcd, kube-apiserver and our image as static Pods from a manifests
 * folder (test/cluster/node.ts); Vault is a real non-dev OpenBao with TLS, configured by the commands
 * of docs/setup.md step 1; the plugin's manifest is manifests/static-pod-approle.yaml with only the
 * image, the Vault address, the role ID and the hostPath substituted; kube-apiserver gets the flag and
 * mounts of manifests/kubeadm-clusterconfiguration-patch.yaml and manifests/encryption-config-v2.yaml.
 * Then the seed's "Verify Secret Encryption", the probes and restarts as the kubelet does them, and a
 * node reboot. Runs as root in a private network namespace (test/cluster/run.sh).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parse, stringify } from 'yaml';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type ClusterNode, NODE_NAME } from './node';
import { PLUGIN, deploy, need } from './deploy';
import type { RealServer } from '../support/real-server';
import { REPO_ROOT, sleep } from '../support/plugin-process';

const PROVIDER = 'vault-kubernetes-kms';
const report: Record<string, unknown> = {};

describe('a kubelet runs etcd, kube-apiserver and the plugin as static Pods (docs/setup.md on a real node)', { timeout: 30 * 60_000 }, () => {
  let node: ClusterNode;
  let bao: RealServer;
  const started = Date.now();
  /** Every Secret written through the API server, with its value: read back after each disruption. */
  const written = new Map<string, string>();

  async function createSecret(name: string): Promise<void> {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    node.kubectl(['create', 'secret', 'generic', name, '-n', 'default', `--from-literal=key=${value}`]);
    written.set(name, value);
  }

  function readSecret(name: string): string {
    return Buffer.from(node.kubectl(['get', 'secret', name, '-n', 'default', '-o', 'jsonpath={.data.key}']), 'base64').toString('utf8');
  }

  function assertAllReadable(): void {
    for (const [name, value] of written) assert.equal(readSecret(name), value, `Secret ${name}`);
  }

  async function apiserverReady(timeoutMs: number): Promise<void> {
    await node.waitFor('kube-apiserver /readyz', () => node.api('GET', '/readyz'), (r) => r.status === 200, timeoutMs, 1000);
  }

  before(async () => {
    const d = await deploy();
    node = d.node;
    bao = d.bao;
    report.bringUpSeconds = d.bringUpSeconds;
  });

  after(async () => {
    const keep = process.env.KMS_CLUSTER_KEEP === '1';
    if (node) {
      await node.tearDown(keep);
      // Nothing of the node may outlive it: no shim, no mount, no kubepods cgroup, the kernel settings as before.
      const leftovers = { shims: node.orphanShims(), mounts: node.mountsUnder([node.base, node.containerdState]), cgroups: node.kubepodsCgroups(), logLinks: node.containerLogLinks() };
      report.leftovers = leftovers;
      if (leftovers.shims.length + leftovers.mounts.length + leftovers.cgroups.length + leftovers.logLinks.length > 0 && !keep)
        throw new Error(`tear-down left ${JSON.stringify(leftovers)}`);
    }
    await bao?.close();
    report.totalSeconds = (Date.now() - started) / 1000;
    const out = process.env.KMS_CLUSTER_REPORT;
    if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`cluster: ${JSON.stringify(report)}`);
  });

  it('registers the node, and the mirror Pods of etcd, kube-apiserver and the plugin are Running and Ready', async () => {
    await node.waitFor(
      `node ${NODE_NAME} Ready`,
      () => JSON.parse(node.kubectl(['get', 'node', NODE_NAME, '-o', 'json'])).status.conditions.find((c: { type: string }) => c.type === 'Ready')?.status,
      (s) => s === 'True',
      120_000,
      1000,
    );
    for (const pod of ['etcd', 'kube-apiserver', PLUGIN])
      await node.waitFor(`${pod} Running and Ready`, () => node.podStatus(pod), (s) => s?.phase === 'Running' && s.ready, 120_000, 1000);
    const listing = node.kubectl(['get', 'pods', '-n', 'kube-system']);
    assert.match(listing, new RegExp(`${PLUGIN}-${NODE_NAME}\\s+1/1\\s+Running\\s+0\\s`));
    report.readySeconds = (Date.now() - started) / 1000;
  });

  it("the seed's Verify Secret Encryption: stored as k8s:enc:kms:v2:<name>: without the plaintext, read back through kubectl", async () => {
    await createSecret('kms-check');
    const stored = await node.etcdGet('/registry/secrets/default/kms-check');
    assert.ok(stored, 'no value in etcd');
    assert.ok(stored.subarray(0, 64).toString('latin1').startsWith(`k8s:enc:kms:v2:${PROVIDER}:`), stored.subarray(0, 64).toString('latin1'));
    assert.match(stored.toString('latin1'), /vault:v1:/);
    assert.equal(stored.includes(Buffer.from(written.get('kms-check') as string)), false, 'the plaintext is in etcd');
    assert.equal(readSecret('kms-check'), written.get('kms-check'));
  });

  it('kubectl logs shows the start-up line; the securityContext holds (uid 65532, socket 0600 owned by 65532)', () => {
    const logs = node.kubectl(['logs', '-n', 'kube-system', `${PLUGIN}-${NODE_NAME}`]);
    assert.match(logs, /starting kms plugin/);
    assert.doesNotMatch(logs, new RegExp(bao.rootToken));
    const pid = node.containerPid(PLUGIN);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    assert.match(status, /^CapEff:\s+0+$/m);
    const socket = statSync(join(node.kmsDir, 'vaultkms.socket'));
    assert.equal(socket.uid, 65532);
    assert.equal(socket.mode & 0o777, 0o600);
  });

  it('Vault sealed: the plugin goes NotReady and is not restarted; Ready again by itself after unseal; writes fail cleanly or read back', async () => {
    const before = node.podStatus(PLUGIN);
    assert.ok(before?.ready);
    await bao.seal();
    const sealedAt = Date.now();
    await node.waitFor('plugin NotReady', () => node.podStatus(PLUGIN), (s) => s?.ready === false, 90_000, 1000);
    report.notReadySecondsAfterSeal = (Date.now() - sealedAt) / 1000;
    // Liveness (/live) must keep passing: three periods of 10 s with Vault sealed.
    await sleep(35_000);
    const sealed = node.podStatus(PLUGIN);
    assert.equal(sealed?.restartCount, before?.restartCount, 'the kubelet restarted the plugin while Vault was sealed');
    assert.equal(sealed?.ready, false);
    // Written before: the API server still has the data key.
    assert.equal(readSecret('kms-check'), written.get('kms-check'));
    // A write either fails with an error or stores something that reads back after the unseal.
    const name = 'kms-while-sealed';
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const res = node.kubectlRaw(['create', 'secret', 'generic', name, '-n', 'default', `--from-literal=key=${value}`]);
    report.writeWhileSealed = res.status === 0 ? 'accepted' : `refused: ${res.stderr.trim().slice(0, 200)}`;
    if (res.status === 0) written.set(name, value);
    await bao.unseal();
    const unsealedAt = Date.now();
    await node.waitFor('plugin Ready after unseal', () => node.podStatus(PLUGIN), (s) => s?.ready === true, 90_000, 1000);
    report.readySecondsAfterUnseal = (Date.now() - unsealedAt) / 1000;
    assert.equal(node.podStatus(PLUGIN)?.restartCount, before?.restartCount);
    await apiserverReady(60_000);
    assertAllReadable();
  });

  it('plugin SIGKILLed: the kubelet restarts it; failed API requests and seconds until kms-providers is healthy are counted', async () => {
    const before = node.podStatus(PLUGIN);
    const pid = node.containerPid(PLUGIN);
    let requests = 0;
    let failed = 0;
    let running = true;
    let n = 0;
    const load = (async () => {
      while (running) {
        requests += 2;
        const get = await node.api('GET', '/api/v1/namespaces/default/secrets/kms-check', undefined, 5000).catch(() => ({ status: 0, text: '' }));
        if (get.status !== 200) failed++;
        const name = `kms-during-restart-${n++}`;
        const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
        const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { key: value } };
        const post = await node.api('POST', '/api/v1/namespaces/default/secrets', body, 5000).catch(() => ({ status: 0, text: '' }));
        if (post.status === 201) written.set(name, value);
        else failed++;
        await sleep(200);
      }
    })();
    await sleep(2000);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await node.waitFor('plugin restarted and Ready', () => node.podStatus(PLUGIN), (s) => !!s && s.restartCount > (before?.restartCount ?? 0) && s.ready, 120_000, 500);
    report.pluginReadySecondsAfterKill = (Date.now() - killedAt) / 1000;
    await node.waitFor('kms-providers healthy', () => node.api('GET', '/readyz/kms-providers'), (r) => r.status === 200, 120_000, 250);
    report.kmsProvidersHealthySecondsAfterKill = (Date.now() - killedAt) / 1000;
    running = false;
    await load;
    report.requestsDuringKill = requests;
    report.failedRequestsDuringKill = failed;
    assert.equal(node.podStatus(PLUGIN)?.restartCount, (before?.restartCount ?? 0) + 1);
    assertAllReadable();
  });

  it('node reboot: kubelet, containerd and every container stopped, started again in kubeadm order; every Secret readable', async () => {
    await node.stopAll();
    assert.deepEqual(node.orphanShims(), []);
    const bootAt = Date.now();
    await node.startContainerd();
    await node.startKubelet();
    await apiserverReady(240_000);
    await node.waitFor('plugin Ready after reboot', () => node.podStatus(PLUGIN), (s) => s?.ready === true, 120_000, 1000);
    report.rebootSeconds = (Date.now() - bootAt) / 1000;
    assertAllReadable();
    report.secretsRead = written.size;
  });

  // ---- docs/migrating.md on the live node: from the Go plugin's image to ours and back ----------------------

  /** The Go plugin's upstream static Pod (its assets/vault-kubernetes-kms.yml), with the operator's values filled in. */
  function goManifest(): string {
    const upstream = readFileSync(join(need('KMS_CLUSTER_GO_PLUGIN_SRC'), 'assets/vault-kubernetes-kms.yml'), 'utf8');
    const replaceOnce = (text: string, from: string, to: string): string => {
      const parts = text.split(from);
      if (parts.length !== 2) throw new Error(`the Go plugin's manifest: "${from}" found ${parts.length - 1} times`);
      return parts.join(to);
    };
    let text = replaceOnce(upstream, 'image: falcosuessgott/vault-kubernetes-kms:latest', `image: ${need('KMS_CLUSTER_GO_PLUGIN_IMAGE')}`);
    text = replaceOnce(text, '-vault-address=http://host.docker.internal:8200', `-vault-address=${bao.url}`);
    // Token auth as upstream shows it: the token on the command line (the Go plugin reads no token file).
    text = replaceOnce(text, '-token=root', `-token=${readFileSync(join(node.kmsDir, 'token'), 'utf8').trim()}`);
    text = replaceOnce(text, '      volumeMounts:\n', '      env:\n        - name: VAULT_CACERT\n          value: /opt/kms/ca.crt\n      volumeMounts:\n');
    text = replaceOnce(text, '        path: /opt/kms\n', `        path: ${node.kmsDir}\n`);
    return text;
  }

  /** An EncryptionConfiguration with the kms providers of the two manifests in this order, then identity. */
  function encryptionConfig(order: ('v1' | 'v2')[]): string {
    const file = (v: string) => parse(readFileSync(join(REPO_ROOT, `manifests/encryption-config-${v}.yaml`), 'utf8'));
    const kms = (v: string) => file(v).resources[0].providers.find((p: Record<string, unknown>) => p.kms);
    const config = file('v2');
    config.resources[0].providers = [...order.map(kms), { identity: {} }];
    return stringify(config);
  }

  let apiserverGeneration = 0;
  /** New encryption config and flags; the changed manifest makes the kubelet restart kube-apiserver. */
  async function reconfigureApiserver(config: string): Promise<void> {
    writeFileSync(join(node.enc, 'encryption-config.yaml'), config, { mode: 0o600 });
    apiserverGeneration++;
    const manifest = parse(node.apiserverManifest(['--feature-gates=KMSv1=true']));
    manifest.metadata.annotations = { 'kms-test/generation': String(apiserverGeneration) };
    const oldId = node.podStatus('kube-apiserver')?.containerId;
    node.writeManifest('kube-apiserver.yaml', stringify(manifest));
    await node.waitFor('kube-apiserver restarted', () => node.podStatus('kube-apiserver'), (s) => !!s && s.containerId !== oldId && s.ready, 240_000, 1000);
    await apiserverReady(120_000);
  }

  async function storedPrefix(name: string): Promise<string> {
    const stored = await node.etcdGet(`/registry/secrets/default/${name}`);
    return (stored ?? Buffer.alloc(0)).subarray(0, 40).toString('latin1');
  }

  /** docs/migrating.md "Switching" step 1: the document's own command, for the node's directory. */
  function migratingStep1(): void {
    const doc = readFileSync(join(REPO_ROOT, 'docs/migrating.md'), 'utf8');
    const switching = doc.slice(doc.indexOf('\n## Switching\n'), doc.indexOf('\n## Going back'));
    const cmd = [...switching.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim()).find((b) => b.startsWith('chown '));
    assert.ok(cmd, 'docs/migrating.md "Switching" has no chown block');
    execFileSync('bash', ['-c', `set -e; ${cmd.split('/opt/kms').join(node.kmsDir)}`], { stdio: 'pipe' });
  }

  /** Step 2: is there a kms provider that is not v2 (apiVersion v1, or none) in kube-apiserver's EncryptionConfiguration? */
  function clusterUsesV1(): boolean {
    const config = parse(readFileSync(join(node.enc, 'encryption-config.yaml'), 'utf8'));
    return config.resources.some((r: { providers: { kms?: { apiVersion?: string } }[] }) => r.providers.some((p) => p.kms && p.kms.apiVersion !== 'v2'));
  }

  /** Step 3, in one edit of the Go manifest: our image, -disable-v1=false if step 2 found v1, -force-socket-overwrite. */
  function oursFromGoManifest(): string {
    const flags = [...(clusterUsesV1() ? ['-disable-v1=false'] : []), '-force-socket-overwrite'];
    return goManifest()
      .replace(`image: ${need('KMS_CLUSTER_GO_PLUGIN_IMAGE')}`, `image: ${need('KMS_CLUSTER_IMAGE')}`)
      .replace('        - -auth-method=token\n', `        - -auth-method=token\n${flags.map((f) => `        - ${f}\n`).join('')}`);
  }

  /**
   * "Going back to the Go plugin", in one edit of our manifest: the image back; -health-port bare (this manifest has
   * none: the Go default 8080); credentials on the command line (already, from the Go manifest);
   * -force-socket-overwrite and -disable-v1=false kept.
   */
  function goFromOursManifest(): string {
    const ours = oursFromGoManifest();
    assert.doesNotMatch(ours, /-health-port=127\.0\.0\.1/);
    return ours.replace(`image: ${need('KMS_CLUSTER_IMAGE')}`, `image: ${need('KMS_CLUSTER_GO_PLUGIN_IMAGE')}`);
  }

  /**
   * Waits for the plugin's Pod to run `image` and be Ready, and for kube-apiserver's kms checks to pass. Not a crash
   * loop: the container started once. With `kubeletRestarted`, one earlier stop is allowed if it was the kubelet's
   * SIGTERM with a clean exit (0), not a crash: a kubelet that starts again with a changed static Pod may start the
   * new container once before it has finished with the old Pod of the same name.
   */
  async function waitPlugin(image: string, what: string, kubeletRestarted = false): Promise<void> {
    const status = await node.waitFor(
      what,
      () => JSON.parse(node.kubectl(['-n', 'kube-system', 'get', 'pod', `${PLUGIN}-${NODE_NAME}`, '-o', 'json'])),
      (p) => p.spec.containers[0].image === image && p.status?.containerStatuses?.[0]?.image === image && p.status.containerStatuses[0].ready === true,
      180_000,
      1000,
    );
    // Not a crash loop: the new container started once.
    const restarts = status.status.containerStatuses[0].restartCount;
    const last = status.status.containerStatuses[0].lastState?.terminated;
    if (kubeletRestarted && restarts === 1 && last?.exitCode === 0) {
      report.kubeletStoppedOnceAfterItsRestart = { reason: last.reason, exitCode: last.exitCode };
    } else if (restarts !== 0) {
      const previous = node.kubectlRaw(['-n', 'kube-system', 'logs', `${PLUGIN}-${NODE_NAME}`, '--previous=true']).stdout.slice(0, 2000);
      assert.fail(`${what}: the container was restarted ${restarts} times; its previous log:\n${previous}`);
    }
    // With two kms providers the checks are kms-provider-0 and kms-provider-1 (one: kms-providers).
    await node.waitFor('the kms provider checks healthy', () => node.api('GET', '/readyz?verbose'), (r) => r.status === 200 && /\[\+\]kms-provider/.test(r.text), 120_000, 500);
  }

  it('the Go plugin v1.4.0 from its own image and manifest serves v1 and v2; Secrets written through both', async () => {
    // A node as the Go plugin's deployment leaves it: /opt/kms owned by root, the Go image running as root.
    node.removeManifest(`${PLUGIN}.yaml`);
    await node.waitFor('our plugin stopped', () => node.podStatus(PLUGIN), (s) => s === undefined, 120_000, 1000);
    chownSync(node.kmsDir, 0, 0);
    chmodSync(node.kmsDir, 0o755);
    node.writeManifest(`${PLUGIN}.yaml`, goManifest());
    await reconfigureApiserver(encryptionConfig(['v1', 'v2']));
    await waitPlugin(need('KMS_CLUSTER_GO_PLUGIN_IMAGE'), 'the Go plugin Ready');
    for (let i = 0; i < 3; i++) await createSecret(`go-v1-${i}`);
    assert.ok((await storedPrefix('go-v1-0')).startsWith('k8s:enc:kms:v1:vault:'), await storedPrefix('go-v1-0'));
    await reconfigureApiserver(encryptionConfig(['v2', 'v1']));
    for (let i = 0; i < 3; i++) await createSecret(`go-v2-${i}`);
    assert.ok((await storedPrefix('go-v2-0')).startsWith(`k8s:enc:kms:v2:${PROVIDER}:`), await storedPrefix('go-v2-0'));
    assertAllReadable();
  });

  it('docs/migrating.md after a clean stop of the Go plugin: ours starts once, every Secret (v1 and v2) readable', async () => {
    migratingStep1();
    node.writeManifest(`${PLUGIN}.yaml`, oursFromGoManifest());
    await waitPlugin(need('KMS_CLUSTER_IMAGE'), 'our plugin Ready after the switch');
    assertAllReadable();
    await createSecret('ours-after-clean-switch');
  });

  it('rollback to the Go plugin (docs/migrating.md "Going back"): every Secret readable', async () => {
    node.writeManifest(`${PLUGIN}.yaml`, goFromOursManifest());
    await waitPlugin(need('KMS_CLUSTER_GO_PLUGIN_IMAGE'), 'the Go plugin Ready after the rollback');
    assertAllReadable();
    await createSecret('go-after-rollback');
  });

  it('docs/migrating.md after the Go plugin was SIGKILLed with its node (its root-owned socket left behind): ours starts once, every Secret readable', async () => {
    // The kubelet is stopped first, so nothing restarts the Go plugin and its socket stays as it left it.
    await node.stopKubelet();
    process.kill(node.containerPid(PLUGIN), 'SIGKILL');
    await sleep(1000);
    const left = statSync(join(node.kmsDir, 'vaultkms.socket'));
    report.socketLeftByGo = `uid ${left.uid} mode ${(left.mode & 0o777).toString(8)}`;
    assert.equal(left.uid, 0, 'the Go plugin left no root-owned socket');
    migratingStep1();
    node.writeManifest(`${PLUGIN}.yaml`, oursFromGoManifest());
    await node.startKubelet();
    await waitPlugin(need('KMS_CLUSTER_IMAGE'), 'our plugin Ready after the Go plugin was killed', true);
    assertAllReadable();
    await createSecret('ours-after-killed-switch');
  });

  it('rollback to the Go plugin again: every Secret readable', async () => {
    node.writeManifest(`${PLUGIN}.yaml`, goFromOursManifest());
    await waitPlugin(need('KMS_CLUSTER_GO_PLUGIN_IMAGE'), 'the Go plugin Ready after the second rollback');
    assertAllReadable();
    report.secretsRead = written.size;
  });
});
