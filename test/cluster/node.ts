import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Agent, fetch as undiciFetch } from 'undici';
import { REPO_ROOT, sleep } from '../support/plugin-process';

/**
 * One control-plane node laid out as kubeadm lays it out, run by a real kubelet and containerd:
 * static Pods for etcd, kube-apiserver and the plugin in a manifests folder, a throwaway PKI,
 * the kubelet registered as a node. Everything lives under `base` (a temp dir standing for `/`:
 * base/etc/kubernetes/{manifests,pki,enc}, base/opt/kms, base/var/lib/{etcd,kubelet}); containerd
 * gets its own root, state and socket there and under /run. The whole suite runs in a private network
 * namespace (test/cluster/run.sh), so the fixed ports of a real node (6443, 2379, 10250, the
 * manifest's 127.0.0.1:8080) touch nothing else on the machine; the node's address is one of that
 * namespace's own.
 */
export interface ClusterBinaries {
  readonly kubelet: string;
  readonly kubectl: string;
  readonly containerdDir: string;
  readonly imagesDir: string;
  readonly etcdImage: string;
  readonly apiserverImage: string;
  readonly pauseImage: string;
}

export function binariesFromEnv(): ClusterBinaries {
  const need = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run the suite with npm run test:cluster (test/cluster/run.sh)`);
    return v;
  };
  return {
    kubelet: need('KMS_CLUSTER_KUBELET'),
    kubectl: need('KMS_CLUSTER_KUBECTL'),
    containerdDir: need('KMS_CLUSTER_CONTAINERD_DIR'),
    imagesDir: need('KMS_CLUSTER_IMAGES_DIR'),
    etcdImage: need('KMS_CLUSTER_ETCD_IMAGE'),
    apiserverImage: need('KMS_CLUSTER_APISERVER_IMAGE'),
    pauseImage: need('KMS_CLUSTER_PAUSE_IMAGE'),
  };
}

/** The kernel settings the kubelet changes (protectKernelDefaults: false), restored at tear-down. */
const KERNEL_SETTINGS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

export const NODE_NAME = 'kms-node';
const APISERVER_PORT = 6443;

export interface PodStatus {
  readonly phase: string;
  readonly ready: boolean;
  readonly restartCount: number;
  readonly containerId: string;
}

export class ClusterNode {
  readonly etc: string;
  readonly manifests: string;
  readonly pki: string;
  readonly enc: string;
  /** The host directory the manifests' `/opt/kms` hostPath stands for. */
  readonly kmsDir: string;
  readonly kubeletRoot: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly log: string;
  private containerd: ChildProcess | undefined;
  private kubelet: ChildProcess | undefined;
  private savedKernel: Record<string, string> = {};
  private readonly hadContainerLogDir = existsSync('/var/log/containers');
  private dispatcher: Agent | undefined;

  constructor(
    readonly base: string,
    readonly nodeIp: string,
    readonly bin: ClusterBinaries,
  ) {
    this.etc = join(base, 'etc/kubernetes');
    this.manifests = join(this.etc, 'manifests');
    this.pki = join(this.etc, 'pki');
    this.enc = join(this.etc, 'enc');
    this.kmsDir = join(base, 'opt/kms');
    this.kubeletRoot = join(base, 'var/lib/kubelet');
    this.containerdRoot = join(base, 'var/lib/containerd');
    // State and socket on /run, named after the base dir: a unix socket path has at most 107 bytes.
    const id = base.split('/').pop() as string;
    this.containerdState = `/run/${id}/containerd`;
    this.containerdSocket = `/run/${id}/containerd.sock`;
    this.log = join(base, 'log');
    for (const d of [this.manifests, this.pki, this.enc, this.kubeletRoot, this.containerdRoot, this.log, join(base, 'var/lib/etcd'), join(base, 'var/log/pods')])
      mkdirSync(d, { recursive: true });
  }

  get apiserverUrl(): string {
    return `https://127.0.0.1:${APISERVER_PORT}`;
  }

  // ---- PKI -------------------------------------------------------------------------------------------------

  /** A throwaway CA and the certificates kubeadm makes, with the openssl CLI. */
  makePki(): void {
    const p = (n: string) => join(this.pki, n);
    mkdirSync(p('etcd'), { recursive: true });
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    const ca = (name: string, cn: string) =>
      ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`));
    const leaf = (name: string, caName: string, subj: string, usage: string, san?: string) => {
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subj, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
      writeFileSync(p(`${name}.ext`), `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
      ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${caName}.crt`), '-CAkey', p(`${caName}.key`), '-CAcreateserial', '-days', '2', '-extfile', p(`${name}.ext`), '-out', p(`${name}.crt`));
      rmSync(p(`${name}.csr`));
      rmSync(p(`${name}.ext`));
    };
    const ip = this.nodeIp;
    ca('ca', 'kubernetes');
    ca('etcd/ca', 'etcd-ca');
    leaf('apiserver', 'ca', '/CN=kube-apiserver', 'serverAuth', `DNS:${NODE_NAME},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost,IP:10.96.0.1,IP:127.0.0.1,IP:${ip}`);
    leaf('apiserver-kubelet-client', 'ca', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'clientAuth');
    leaf('admin', 'ca', '/O=system:masters/CN=kubernetes-admin', 'clientAuth');
    leaf('kubelet-client', 'ca', `/O=system:nodes/CN=system:node:${NODE_NAME}`, 'clientAuth');
    leaf('kubelet-serving', 'ca', `/CN=${NODE_NAME}`, 'serverAuth', `DNS:${NODE_NAME},IP:${ip}`);
    leaf('etcd/server', 'etcd/ca', `/CN=${NODE_NAME}`, 'serverAuth,clientAuth', `DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${ip}`);
    leaf('etcd/peer', 'etcd/ca', `/CN=${NODE_NAME}`, 'serverAuth,clientAuth', `DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${ip}`);
    leaf('apiserver-etcd-client', 'etcd/ca', '/CN=kube-apiserver-etcd-client', 'clientAuth');
    leaf('etcd/healthcheck-client', 'etcd/ca', '/CN=kube-etcd-healthcheck-client', 'clientAuth');
    ssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p('sa.key'));
    ssl('pkey', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub'));
    this.kubeconfig('admin.conf', 'kubernetes-admin', p('admin.crt'), p('admin.key'), this.apiserverUrl);
    this.kubeconfig('kubelet.conf', `system:node:${NODE_NAME}`, p('kubelet-client.crt'), p('kubelet-client.key'), `https://${ip}:${APISERVER_PORT}`);
  }

  private kubeconfig(file: string, user: string, cert: string, key: string, server: string): void {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubernetes', cluster: { server, 'certificate-authority': join(this.pki, 'ca.crt') } }],
      users: [{ name: user, user: { 'client-certificate': cert, 'client-key': key } }],
      contexts: [{ name: 'default', context: { cluster: 'kubernetes', user } }],
      'current-context': 'default',
    };
    writeFileSync(join(this.etc, file), stringify(config), { mode: 0o600 });
  }

  get adminConf(): string {
    return join(this.etc, 'admin.conf');
  }

  // ---- static Pods -----------------------------------------------------------------------------------------

  /** Writes a static Pod manifest atomically: the kubelet reads a file it sees half-written. Dotfiles are ignored by it. */
  writeManifest(name: string, text: string): void {
    const tmp = join(this.manifests, `.${name}.tmp`);
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, join(this.manifests, name));
  }

  removeManifest(name: string): void {
    rmSync(join(this.manifests, name), { force: true });
  }

  /** Host paths in a manifest: the node's `/opt/kms` and `/etc/kubernetes/...` are under base. */
  hostPath(path: string): string {
    return join(this.base, path);
  }

  etcdManifest(): string {
    const ip = this.nodeIp;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'etcd', namespace: 'kube-system', labels: { component: 'etcd', tier: 'control-plane' } },
      spec: {
        hostNetwork: true,
        priorityClassName: 'system-node-critical',
        securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'etcd',
            image: this.bin.etcdImage,
            imagePullPolicy: 'IfNotPresent',
            command: [
              '/etcd',
              `--name=${NODE_NAME}`,
              '--data-dir=/var/lib/etcd',
              `--advertise-client-urls=https://${ip}:2379`,
              `--listen-client-urls=https://127.0.0.1:2379,https://${ip}:2379`,
              `--initial-advertise-peer-urls=https://${ip}:2380`,
              `--listen-peer-urls=https://${ip}:2380`,
              `--initial-cluster=${NODE_NAME}=https://${ip}:2380`,
              '--listen-metrics-urls=http://127.0.0.1:2381',
              '--client-cert-auth=true',
              '--cert-file=/etc/kubernetes/pki/etcd/server.crt',
              '--key-file=/etc/kubernetes/pki/etcd/server.key',
              '--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
              '--peer-client-cert-auth=true',
              '--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt',
              '--peer-key-file=/etc/kubernetes/pki/etcd/peer.key',
              '--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
              '--snapshot-count=10000',
            ],
            livenessProbe: { httpGet: { host: '127.0.0.1', path: '/livez', port: 2381 }, periodSeconds: 10, failureThreshold: 8, initialDelaySeconds: 10, timeoutSeconds: 15 },
            resources: { requests: { cpu: '100m', memory: '100Mi' } },
            volumeMounts: [
              { name: 'etcd-data', mountPath: '/var/lib/etcd' },
              { name: 'etcd-certs', mountPath: '/etc/kubernetes/pki/etcd' },
            ],
          },
        ],
        volumes: [
          { name: 'etcd-data', hostPath: { path: this.hostPath('var/lib/etcd'), type: 'DirectoryOrCreate' } },
          { name: 'etcd-certs', hostPath: { path: join(this.pki, 'etcd'), type: 'DirectoryOrCreate' } },
        ],
      },
    };
    return stringify(pod);
  }

  /**
   * kube-apiserver as kubeadm writes it, plus what manifests/kubeadm-clusterconfiguration-patch.yaml adds:
   * its extraArgs as flags and its extraVolumes as volumes and mounts (host paths under base).
   */
  apiserverManifest(extraFlags: readonly string[] = []): string {
    const ip = this.nodeIp;
    const patch = parse(readFileSync(join(REPO_ROOT, 'manifests/kubeadm-clusterconfiguration-patch.yaml'), 'utf8'));
    const patchArgs = (patch.apiServer.extraArgs as { name: string; value: string }[]).map((a) => `--${a.name}=${a.value}`);
    const patchVolumes = patch.apiServer.extraVolumes as { name: string; hostPath: string; mountPath: string; pathType: string; readOnly?: boolean }[];
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'kube-apiserver', namespace: 'kube-system', labels: { component: 'kube-apiserver', tier: 'control-plane' } },
      spec: {
        hostNetwork: true,
        priorityClassName: 'system-node-critical',
        securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'kube-apiserver',
            image: this.bin.apiserverImage,
            imagePullPolicy: 'IfNotPresent',
            command: [
              '/kube-apiserver',
              `--advertise-address=${ip}`,
              '--allow-privileged=true',
              '--authorization-mode=Node,RBAC',
              '--client-ca-file=/etc/kubernetes/pki/ca.crt',
              '--enable-admission-plugins=NodeRestriction',
              '--enable-bootstrap-token-auth=false',
              '--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt',
              '--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt',
              '--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key',
              '--etcd-servers=https://127.0.0.1:2379',
              '--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt',
              '--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key',
              '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
              `--secure-port=${APISERVER_PORT}`,
              '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
              '--service-account-key-file=/etc/kubernetes/pki/sa.pub',
              '--service-account-signing-key-file=/etc/kubernetes/pki/sa.key',
              '--service-cluster-ip-range=10.96.0.0/12',
              '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt',
              '--tls-private-key-file=/etc/kubernetes/pki/apiserver.key',
              ...patchArgs,
              ...extraFlags,
            ],
            livenessProbe: { httpGet: { host: ip, path: '/livez', port: APISERVER_PORT, scheme: 'HTTPS' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 15, failureThreshold: 8 },
            readinessProbe: { httpGet: { host: ip, path: '/readyz', port: APISERVER_PORT, scheme: 'HTTPS' }, periodSeconds: 1, timeoutSeconds: 15, failureThreshold: 3 },
            startupProbe: { httpGet: { host: ip, path: '/livez', port: APISERVER_PORT, scheme: 'HTTPS' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 15, failureThreshold: 24 },
            resources: { requests: { cpu: '250m' } },
            volumeMounts: [
              { name: 'k8s-certs', mountPath: '/etc/kubernetes/pki', readOnly: true },
              ...patchVolumes.map((v) => ({ name: v.name, mountPath: v.mountPath, ...(v.readOnly ? { readOnly: true } : {}) })),
            ],
          },
        ],
        volumes: [
          { name: 'k8s-certs', hostPath: { path: this.pki, type: 'DirectoryOrCreate' } },
          ...patchVolumes.map((v) => ({ name: v.name, hostPath: { path: this.hostPath(v.hostPath), type: v.pathType } })),
        ],
      },
    };
    return stringify(pod);
  }

  /** manifests/encryption-config-<v>.yaml, as it is, at the path the patch's flag names. */
  installEncryptionConfig(file: string): void {
    const target = join(this.enc, 'encryption-config.yaml');
    writeFileSync(`${target}.tmp`, readFileSync(join(REPO_ROOT, 'manifests', file)), { mode: 0o600 });
    renameSync(`${target}.tmp`, target);
  }

  // ---- containerd and the kubelet ----------------------------------------------------------------------------

  private containerdConfig(): string {
    return [
      'version = 3',
      `root = "${this.containerdRoot}"`,
      `state = "${this.containerdState}"`,
      '[grpc]',
      `  address = "${this.containerdSocket}"`,
      '[metrics]',
      '  address = ""',
      "[plugins.'io.containerd.internal.v1.opt']",
      `  path = "${join(this.base, 'opt/containerd')}"`,
      "[plugins.'io.containerd.nri.v1.nri']",
      '  disable = true',
      "[plugins.'io.containerd.cri.v1.images']",
      '  snapshotter = "overlayfs"',
      "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
      `  sandbox = "${this.bin.pauseImage}"`,
      "[plugins.'io.containerd.cri.v1.runtime']",
      // This VM's bounding set has no CAP_SYS_RESOURCE: without it every sandbox fails in runc.
      '  restrict_oom_score_adj = true',
      "[plugins.'io.containerd.cri.v1.runtime'.cni]",
      `  conf_dir = "${join(this.base, 'etc/cni/net.d')}"`,
      `  bin_dirs = ["${join(this.base, 'opt/cni/bin')}"]`,
      "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]",
      '  runtime_type = "io.containerd.runc.v2"',
      "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
      '  BinaryName = "/usr/sbin/runc"',
      '  SystemdCgroup = false',
      '',
    ].join('\n');
  }

  private kubeletConfig(): string {
    const config = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      staticPodPath: this.manifests,
      fileCheckFrequency: '5s',
      syncFrequency: '10s',
      containerRuntimeEndpoint: `unix://${this.containerdSocket}`,
      cgroupDriver: 'cgroupfs',
      // The machine's controllers are on cgroup v1; 1.37 refuses v1 unless told.
      failCgroupV1: false,
      failSwapOn: false,
      address: this.nodeIp,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10248,
      podLogsDir: this.hostPath('var/log/pods'),
      tlsCertFile: join(this.pki, 'kubelet-serving.crt'),
      tlsPrivateKeyFile: join(this.pki, 'kubelet-serving.key'),
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(this.pki, 'ca.crt') } },
      authorization: { mode: 'Webhook' },
      rotateCertificates: false,
      serverTLSBootstrap: false,
      clusterDomain: 'cluster.local',
      // Local-only images are never garbage-collected, and a busy CI disk does not evict the control plane.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'nodefs.inodesFree': '2%', 'imagefs.available': '2%' },
    };
    return stringify(config);
  }

  /** Starts containerd and waits for its socket. */
  async startContainerd(): Promise<void> {
    const config = join(this.base, 'containerd.toml');
    writeFileSync(config, this.containerdConfig());
    // Every Pod here uses the host's network, so no CNI plugin ever runs; but without a network configuration the
    // CRI reports NetworkReady=false and the kubelet keeps the node NotReady. One that is never executed.
    mkdirSync(join(this.base, 'etc/cni/net.d'), { recursive: true });
    writeFileSync(
      join(this.base, 'etc/cni/net.d/10-host-network-only.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'host-network-only', plugins: [{ type: 'loopback' }] }),
    );
    const out = openSync(join(this.log, 'containerd.log'), 'a');
    this.containerd = spawn(join(this.bin.containerdDir, 'containerd'), ['--config', config], {
      stdio: ['ignore', out, out],
      // The shim must be on PATH.
      env: { PATH: `${this.bin.containerdDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: this.base },
    });
    closeSync(out);
    const until = Date.now() + 60_000;
    while (this.ctrRaw(['version']).status !== 0) {
      if (this.containerd.exitCode !== null) throw new Error(`containerd exited ${this.containerd.exitCode}: ${this.tail('containerd.log')}`);
      if (Date.now() > until) throw new Error(`containerd did not answer: ${this.tail('containerd.log')}`);
      await sleep(200);
    }
  }

  /** Imports an OCI archive into the k8s.io namespace, where the CRI finds it. */
  importImage(archive: string): void {
    this.ctr(['-n', 'k8s.io', 'images', 'import', '--no-unpack=false', archive]);
  }

  importClusterImages(): void {
    for (const name of readdirSync(this.bin.imagesDir)) if (name.endsWith('.tar')) this.importImage(join(this.bin.imagesDir, name));
  }

  async startKubelet(): Promise<void> {
    if (Object.keys(this.savedKernel).length === 0)
      for (const s of KERNEL_SETTINGS) this.savedKernel[s] = readFileSync(`/proc/sys/${s}`, 'utf8').trim();
    const config = join(this.base, 'kubelet-config.yaml');
    writeFileSync(config, this.kubeletConfig());
    const out = openSync(join(this.log, 'kubelet.log'), 'a');
    this.kubelet = spawn(
      this.bin.kubelet,
      [`--config=${config}`, `--kubeconfig=${join(this.etc, 'kubelet.conf')}`, `--root-dir=${this.kubeletRoot}`, `--hostname-override=${NODE_NAME}`, `--node-ip=${this.nodeIp}`, '--v=1'],
      { stdio: ['ignore', out, out], env: { PATH: `${this.bin.containerdDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: this.base } },
    );
    closeSync(out);
    const until = Date.now() + 60_000;
    for (;;) {
      if (this.kubelet.exitCode !== null) throw new Error(`kubelet exited ${this.kubelet.exitCode}: ${this.tail('kubelet.log')}`);
      try {
        const res = await undiciFetch('http://127.0.0.1:10248/healthz');
        if (res.status === 200) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > until) throw new Error(`kubelet not healthy: ${this.tail('kubelet.log')}`);
      await sleep(250);
    }
  }

  private ctrRaw(args: readonly string[]) {
    return spawnSync(join(this.bin.containerdDir, 'ctr'), ['--address', this.containerdSocket, ...args], { encoding: 'utf8', timeout: 60_000 });
  }

  ctr(args: readonly string[]): string {
    const res = this.ctrRaw(args);
    if (res.status !== 0) throw new Error(`ctr ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
    return res.stdout;
  }

  tail(file: string, lines = 40): string {
    try {
      return readFileSync(join(this.log, file), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  // ---- kubectl and the API ------------------------------------------------------------------------------------

  kubectlRaw(args: readonly string[], input?: string) {
    return spawnSync(this.bin.kubectl, [`--kubeconfig=${this.adminConf}`, '--request-timeout=20s', ...args], { encoding: 'utf8', input, timeout: 60_000 });
  }

  kubectl(args: readonly string[], input?: string): string {
    const res = this.kubectlRaw(args, input);
    if (res.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
    return res.stdout;
  }

  /** An HTTPS client with the admin certificate, for counting failed requests precisely. */
  private agent(): Agent {
    this.dispatcher ??= new Agent({
      connect: { ca: readFileSync(join(this.pki, 'ca.crt')), cert: readFileSync(join(this.pki, 'admin.crt')), key: readFileSync(join(this.pki, 'admin.key')) },
    });
    return this.dispatcher;
  }

  async api(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
    const res = await undiciFetch(`${this.apiserverUrl}${path}`, {
      method,
      dispatcher: this.agent(),
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, text: await res.text() };
  }

  /** The raw value etcd stores under key, through etcd's JSON gateway with the health-check client certificate. */
  async etcdGet(key: string): Promise<Buffer | undefined> {
    const agent = new Agent({
      connect: {
        ca: readFileSync(join(this.pki, 'etcd/ca.crt')),
        cert: readFileSync(join(this.pki, 'etcd/healthcheck-client.crt')),
        key: readFileSync(join(this.pki, 'etcd/healthcheck-client.key')),
      },
    });
    try {
      const res = await undiciFetch('https://127.0.0.1:2379/v3/kv/range', {
        method: 'POST',
        dispatcher: agent,
        body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
      });
      if (res.status !== 200) throw new Error(`etcd range ${key}: ${res.status} ${await res.text()}`);
      const json = (await res.json()) as { kvs?: { value: string }[] };
      return json.kvs?.[0] ? Buffer.from(json.kvs[0].value, 'base64') : undefined;
    } finally {
      await agent.close();
    }
  }

  /** The status of a static Pod's mirror Pod (name without the node suffix). */
  podStatus(name: string): PodStatus | undefined {
    const res = this.kubectlRaw(['-n', 'kube-system', 'get', 'pod', `${name}-${NODE_NAME}`, '-o', 'json']);
    if (res.status !== 0) return undefined;
    const pod = JSON.parse(res.stdout);
    const c = pod.status?.containerStatuses?.[0];
    return { phase: pod.status?.phase ?? '', ready: c?.ready === true, restartCount: c?.restartCount ?? 0, containerId: c?.containerID ?? '' };
  }

  async waitFor<T>(what: string, fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number, stepMs = 500): Promise<T> {
    const until = Date.now() + timeoutMs;
    let last: T | undefined;
    let lastError: unknown;
    for (;;) {
      try {
        last = await fn();
        if (ok(last)) return last;
      } catch (e) {
        lastError = e;
      }
      if (Date.now() > until)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)} ${lastError ?? ''}\nkubelet:\n${this.tail('kubelet.log', 15)}`);
      await sleep(stepMs);
    }
  }

  /** Pid of the running task of the container with this Kubernetes container name. */
  containerPid(containerName: string): number {
    const ids = this.ctr(['-n', 'k8s.io', 'containers', 'ls', '--quiet']).split('\n').filter(Boolean);
    const tasks = new Map<string, { pid: number; status: string }>();
    for (const line of this.ctr(['-n', 'k8s.io', 'tasks', 'ls']).split('\n').slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id) tasks.set(id, { pid: Number(pid), status });
    }
    for (const id of ids) {
      const task = tasks.get(id);
      if (!task || task.status !== 'RUNNING') continue;
      const info = JSON.parse(this.ctr(['-n', 'k8s.io', 'containers', 'info', id]));
      if (info.Labels?.['io.kubernetes.container.name'] === containerName) return task.pid;
    }
    throw new Error(`no running container named ${containerName}`);
  }

  // ---- stopping -----------------------------------------------------------------------------------------------

  /** Stops the kubelet alone; the containers keep running. */
  async stopKubelet(): Promise<void> {
    await stopChild(this.kubelet, 20_000);
    this.kubelet = undefined;
  }

  /** Stops the kubelet, then every container (SIGKILL, as a power cut), then containerd: a node going down. */
  async stopAll(): Promise<void> {
    await stopChild(this.kubelet, 20_000);
    this.kubelet = undefined;
    if (this.containerd && this.containerd.exitCode === null) {
      for (let round = 0; round < 3; round++) {
        const lines = this.ctrRaw(['-n', 'k8s.io', 'tasks', 'ls']).stdout?.split('\n').slice(1).filter((l) => l.trim()) ?? [];
        if (lines.length === 0) break;
        for (const line of lines) this.ctrRaw(['-n', 'k8s.io', 'tasks', 'kill', '-a', '-s', 'SIGKILL', line.trim().split(/\s+/)[0]]);
        await sleep(500);
        for (const line of lines) this.ctrRaw(['-n', 'k8s.io', 'tasks', 'delete', '-f', line.trim().split(/\s+/)[0]]);
      }
    }
    await stopChild(this.containerd, 20_000);
    this.containerd = undefined;
    this.killOrphanShims();
    this.unmountUnder([this.containerdRoot, this.containerdState, this.kubeletRoot, `/run/${this.base.split('/').pop()}`]);
  }

  /** Shims of this node's containerd that outlived it (they name its socket on their command line). */
  orphanShims(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes('containerd-shim') && cmdline.includes(this.containerdSocket)) pids.push(Number(entry));
    }
    return pids;
  }

  private killOrphanShims(): void {
    for (const pid of this.orphanShims()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** Mount points under these directories. */
  mountsUnder(dirs: readonly string[]): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && dirs.some((d) => m === d || m.startsWith(`${d}/`)));
  }

  private unmountUnder(dirs: readonly string[]): void {
    for (let round = 0; round < 5; round++) {
      const mounts = this.mountsUnder(dirs).sort((a, b) => b.length - a.length);
      if (mounts.length === 0) return;
      for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
  }

  /** The kubepods cgroups the kubelet made (cgroupfs driver, cgroup v1 controllers and the unified tree). */
  kubepodsCgroups(): string[] {
    const found: string[] = [];
    const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c))];
    for (const r of roots) if (existsSync(join(r, 'kubepods'))) found.push(join(r, 'kubepods'));
    return found;
  }

  private removeKubepodsCgroups(): void {
    const rmTree = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
      try {
        // cgroup directories are removed with rmdir; their files go with them.
        execFileSync('rmdir', [dir], { stdio: 'ignore' });
      } catch {
        /* still has a process, or already gone */
      }
    };
    for (const c of this.kubepodsCgroups()) rmTree(c);
  }

  /** The kubelet links every container's log into /var/log/containers (a fixed path); those of this node go. */
  containerLogLinks(): string[] {
    const dir = '/var/log/containers';
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((n) => join(dir, n))
      .filter((l) => {
        try {
          return readlinkSync(l).startsWith(`${this.base}/`);
        } catch {
          return false;
        }
      });
  }

  private removeContainerLogLinks(): void {
    for (const l of this.containerLogLinks()) rmSync(l, { force: true });
    // The kubelet made the folder if it was not there: then it goes too, once empty.
    if (!this.hadContainerLogDir && existsSync('/var/log/containers') && readdirSync('/var/log/containers').length === 0) rmSync('/var/log/containers', { recursive: true });
  }

  restoreKernelSettings(): void {
    for (const [s, v] of Object.entries(this.savedKernel)) {
      try {
        writeFileSync(`/proc/sys/${s}`, v);
      } catch {
        /* read-only here */
      }
    }
  }

  kernelSettings(): Record<string, string> {
    return Object.fromEntries(KERNEL_SETTINGS.map((s) => [s, readFileSync(`/proc/sys/${s}`, 'utf8').trim()]));
  }

  /** Everything down and gone: processes, containers, mounts, cgroups, kernel settings, files. */
  async tearDown(keepFiles = false): Promise<void> {
    await this.dispatcher?.close().catch(() => undefined);
    this.dispatcher = undefined;
    await this.stopAll();
    this.removeKubepodsCgroups();
    this.removeContainerLogLinks();
    this.restoreKernelSettings();
    if (!keepFiles) {
      rmSync(this.base, { recursive: true, force: true });
      rmSync(`/run/${this.base.split('/').pop()}`, { recursive: true, force: true });
    }
  }

  /** The plugin's directory as docs/setup.md makes it (uid 65532, 0700). */
  makeKmsDir(): void {
    mkdirSync(this.kmsDir, { recursive: true });
    chownSync(this.kmsDir, 65532, 65532);
    chmodSync(this.kmsDir, 0o700);
  }
}

async function stopChild(child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
