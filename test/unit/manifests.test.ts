/**
 * Every YAML file in manifests/ is parsed with the `yaml` library as Kubernetes
 * reads it, and every static Pod's command line and env go through the
 * plugin's own configuration parser. A manifest the CLI would reject, a probe
 * on the wrong path or port, or a secret on a command line fails here. The
 * policy (HCL) is parsed by real OpenBao in test/integration/policy-openbao.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { parseConfig } from '../../src/config/parse';
import type { PluginConfig } from '../../src/config/config';
import { OPTIONS } from '../../src/config/options';
import { parseAllDocuments } from 'yaml';

const ROOT = resolve(__dirname, '../../..');
const MANIFESTS = join(ROOT, 'manifests');
const read = (name: string) => readFileSync(join(MANIFESTS, name), 'utf8');

// ---------------------------------------------------------------------------
// YAML as Kubernetes reads it (YAML 1.1: `yes` is a boolean, `0400` octal),
// with the `yaml` library. Any error or warning (duplicate key, bad
// indentation, an unterminated quote) fails the test, naming the line.
// ---------------------------------------------------------------------------
type YamlMap = { [key: string]: unknown };

function parseYaml(source: string): unknown[] {
  return parseAllDocuments(source, { version: '1.1', prettyErrors: true }).map((doc) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
    return doc.toJS() as unknown;
  });
}

// ---------------------------------------------------------------------------
// Vault policy HCL: `path "<p>" { capabilities = ["<c>", ...] }` blocks and
// comments, nothing else. Braces and brackets must balance by construction.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Helpers over parsed manifests.
// ---------------------------------------------------------------------------
function asMap(v: unknown, what: string): YamlMap {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} must be a map`);
  return v as YamlMap;
}
function asList(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} must be a list`);
  return v;
}
function asString(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} must be a string`);
  return v as string;
}
function onlyDoc(name: string): YamlMap {
  const docs = parseYaml(read(name));
  assert.equal(docs.length, 1, `${name} holds one document`);
  return asMap(docs[0], name);
}
const isUnder = (path: string, dir: string) => posix.relative(dir, path) !== '' && !posix.relative(dir, path).startsWith('..');

interface StaticPod {
  readonly pod: YamlMap;
  readonly container: YamlMap;
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly config: PluginConfig;
}

function loadStaticPod(name: string): StaticPod {
  const pod = onlyDoc(name);
  const containers = asList(asMap(pod.spec, 'spec').containers, 'containers');
  assert.equal(containers.length, 1, 'one container');
  const container = asMap(containers[0], 'container');
  const command = container.command === undefined ? [] : asList(container.command, 'command').map((a) => asString(a, 'command item'));
  const args = container.args === undefined ? [] : asList(container.args, 'args').map((a) => asString(a, 'args item'));
  assert.equal(command[0], '/vault-kubernetes-kms', 'command runs the image entrypoint');
  const env: Record<string, string> = {};
  for (const e of container.env === undefined ? [] : asList(container.env, 'env')) {
    const entry = asMap(e, 'env entry');
    assert.equal(entry.valueFrom, undefined, 'a static Pod cannot read Secrets or ConfigMaps: no valueFrom');
    env[asString(entry.name, 'env name')] = asString(entry.value, `env ${String(entry.name)}`);
  }
  const argv = [...command.slice(1), ...args];
  const outcome = parseConfig(argv, env);
  assert.equal(outcome.kind, 'run', `${name}: the CLI runs with this command line`);
  return { pod, container, argv, env, config: (outcome as { config: PluginConfig }).config };
}

/** Where each volumeMount of the container lands on the node, for hostPath volumes. */
function hostMounts(sp: StaticPod): { mountPath: string; hostPath: string }[] {
  const volumes = asList(asMap(sp.pod.spec, 'spec').volumes, 'volumes').map((v) => asMap(v, 'volume'));
  return asList(sp.container.volumeMounts, 'volumeMounts').map((m) => {
    const mount = asMap(m, 'volumeMount');
    const volume = volumes.find((v) => v.name === mount.name);
    assert.ok(volume, `volume ${String(mount.name)} exists`);
    const hostPath = asString(asMap(volume.hostPath, 'hostPath volume').path, 'hostPath.path');
    return { mountPath: asString(mount.mountPath, 'mountPath'), hostPath };
  });
}

const STATIC_PODS = ['static-pod-token.yaml', 'static-pod-approle.yaml'];
const SECRET_OPTIONS = OPTIONS.filter((o) => o.secret);

// ---------------------------------------------------------------------------
describe('manifest parsing', () => {
  const malformedYaml: [string, string][] = [
    ['a: 1\na: 2', 'a duplicate key'],
    ['a:\n  b: 1\n c: 2', 'bad indentation'],
    ['a: "open', 'an unterminated quote'],
  ];
  for (const [text, what] of malformedYaml) {
    it(`fails on YAML with ${what}`, () => assert.throws(() => parseYaml(text)));
  }
});

describe('manifests/', () => {
  it('holds only files this test knows how to check, and each parses', () => {
    const files = readdirSync(MANIFESTS).sort();
    assert.deepEqual(files, [
      'encryption-config-v1.yaml',
      'encryption-config-v2.yaml',
      'kind-cluster.yaml',
      'kms-policy.hcl',
      'kubeadm-clusterconfiguration-patch.yaml',
      'static-pod-approle.yaml',
      'static-pod-token.yaml',
    ]);
    for (const f of files) {
      // kms-policy.hcl is parsed by real OpenBao: test/integration/policy-openbao.test.ts.
      if (f.endsWith('.yaml')) assert.ok(parseYaml(read(f)).length > 0, f);
    }
  });

  for (const name of STATIC_PODS) {
    describe(name, () => {
      it('is accepted by the plugin CLI, with the auth method its name says', () => {
        const { config } = loadStaticPod(name);
        assert.equal(config.dev, false);
        assert.equal(config.auth.method, name.includes('approle') ? 'approle' : 'token');
        assert.ok(config.vault.address.startsWith('https://'), 'Vault over TLS');
        assert.equal(config.enableV2, true);
      });

      it('is a static Pod for kube-system on the host network with a pinned image', () => {
        const { pod, container } = loadStaticPod(name);
        assert.equal(pod.apiVersion, 'v1');
        assert.equal(pod.kind, 'Pod');
        assert.equal(asMap(pod.metadata, 'metadata').namespace, 'kube-system');
        const spec = asMap(pod.spec, 'spec');
        assert.equal(spec.priorityClassName, 'system-node-critical');
        assert.equal(spec.hostNetwork, true);
        const image = asString(container.image, 'image');
        assert.match(image, /[:@][^/]+$/, 'image has a tag or digest');
        assert.doesNotMatch(image, /:latest$/);
      });

      it('puts no secret on the command line or in the manifest', () => {
        const { argv, env } = loadStaticPod(name);
        // The loop below checks nothing if the option table stops marking secrets: the credentials must be there.
        assert.deepEqual(['token', 'approle-secret-id', 'userpass-password'].filter((f) => !SECRET_OPTIONS.some((o) => o.flag === f)), [], 'options marked secret');
        for (const spec of SECRET_OPTIONS) {
          const onCommandLine = argv.some((a) => new RegExp(`^--?${spec.flag}(=|$)`).test(a));
          assert.equal(onCommandLine, false, `-${spec.flag} must not be on the command line`);
          // A static Pod's env is copied into its mirror Pod, readable through the API: use the -*-file options.
          for (const envName of spec.envs) assert.equal(env[envName], undefined, `${envName} must not be set in the manifest`);
        }
      });

      it('mounts every file the plugin reads, and the socket directory at the same path as on the node', () => {
        const sp = loadStaticPod(name);
        const mounts = hostMounts(sp);
        const auth = sp.config.auth;
        const files = [
          auth.method === 'token' ? auth.tokenFile : undefined,
          auth.method === 'approle' ? auth.secretIdFile : undefined,
          sp.config.vault.caCertFile,
        ].filter((f): f is string => f !== undefined);
        assert.ok(files.length >= 2, 'credentials and the CA come from files');
        for (const f of files) assert.ok(mounts.some((m) => isUnder(f, m.mountPath)), `${f} is on a mounted volume`);
        const socketDir = dirname(sp.config.socket.path);
        assert.ok(mounts.some((m) => m.mountPath === socketDir && m.hostPath === socketDir), 'socket directory is the same hostPath kube-apiserver mounts');
      });

      it('probes liveness on /live and readiness on /health, where the health server listens', () => {
        const { container, config } = loadStaticPod(name);
        const probe = (key: string) => asMap(asMap(container[key], key).httpGet, `${key}.httpGet`);
        for (const [key, path] of [['livenessProbe', '/live'], ['readinessProbe', '/health']] as const) {
          const get = probe(key);
          assert.equal(get.path, path, `${key} path`);
          assert.equal(get.port, config.health.port, `${key} port is -health-port's`);
          // hostNetwork: the kubelet reaches a loopback-bound server only through host 127.0.0.1.
          if (config.health.host === '') assert.equal(get.host, undefined);
          else assert.equal(get.host, config.health.host, `${key} host matches -health-port`);
        }
      });

      it('runs unprivileged as 65532 with a read-only root, a memory limit and no CPU limit', () => {
        const { container } = loadStaticPod(name);
        const sc = asMap(container.securityContext, 'securityContext');
        assert.equal(sc.runAsNonRoot, true);
        assert.equal(sc.runAsUser, 65532);
        assert.equal(sc.runAsGroup, 65532);
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.allowPrivilegeEscalation, false);
        assert.deepEqual(asMap(sc.capabilities, 'capabilities').drop, ['ALL']);
        assert.equal(sc.privileged, undefined);
        const res = asMap(container.resources, 'resources');
        assert.deepEqual(res.requests, { cpu: '50m', memory: '128Mi' });
        assert.deepEqual(res.limits, { memory: '256Mi' });
      });
    });
  }

  it('both static Pods differ only in how they authenticate', () => {
    const [token, approle] = STATIC_PODS.map(loadStaticPod);
    assert.equal(token.container.image, approle.container.image);
    assert.deepEqual({ ...token.config, auth: undefined }, { ...approle.config, auth: undefined });
  });

  it('the encryption configurations point at the plugin socket with the documented names', () => {
    const socketUrl = loadStaticPod('static-pod-token.yaml').config.socketUrl;
    for (const [file, name, apiVersion] of [
      ['encryption-config-v2.yaml', 'vault-kubernetes-kms', 'v2'],
      ['encryption-config-v1.yaml', 'vault', undefined],
    ] as const) {
      const doc = onlyDoc(file);
      assert.equal(doc.apiVersion, 'apiserver.config.k8s.io/v1');
      assert.equal(doc.kind, 'EncryptionConfiguration');
      const [entry] = asList(doc.resources, 'resources').map((r) => asMap(r, 'resources entry'));
      assert.deepEqual(entry.resources, ['secrets']);
      const providers = asList(entry.providers, 'providers').map((p) => asMap(p, 'provider'));
      const kms = asMap(providers[0].kms, `${file} first provider is kms`);
      assert.equal(kms.apiVersion, apiVersion);
      assert.equal(kms.name, name);
      assert.equal(kms.endpoint, socketUrl);
      assert.equal(kms.timeout, '3s');
      if (apiVersion === 'v2') assert.equal(kms.cachesize, undefined, 'cachesize is invalid for v2');
      assert.deepEqual(providers[providers.length - 1], { identity: {} }, 'identity last: reads Secrets written before');
    }
  });

  /** Checks kube-apiserver's flag and volumes: the config file and the socket directory are mounted. */
  function checkApiServer(configPath: string, volumes: YamlMap[], socketDir: string): void {
    const covering = volumes.find((v) => isUnder(configPath, asString(v.mountPath, 'mountPath')));
    assert.ok(covering, `${configPath} is on a mounted volume`);
    assert.equal(covering.readOnly, true, 'the encryption configuration is mounted read-only');
    assert.ok(volumes.some((v) => v.hostPath === socketDir && v.mountPath === socketDir), `${socketDir} is mounted at the same path`);
  }

  it('the kubeadm patch passes the encryption configuration and mounts the socket directory', () => {
    const socketDir = dirname(loadStaticPod('static-pod-token.yaml').config.socket.path);
    const doc = onlyDoc('kubeadm-clusterconfiguration-patch.yaml');
    assert.equal(doc.apiVersion, 'kubeadm.k8s.io/v1beta4');
    assert.equal(doc.kind, 'ClusterConfiguration');
    const apiServer = asMap(doc.apiServer, 'apiServer');
    const args = asList(apiServer.extraArgs, 'v1beta4 extraArgs is a list').map((a) => asMap(a, 'extraArg'));
    const flag = args.find((a) => a.name === 'encryption-provider-config');
    assert.ok(flag, 'encryption-provider-config is set');
    const volumes = asList(apiServer.extraVolumes, 'extraVolumes').map((v) => asMap(v, 'extraVolume'));
    checkApiServer(asString(flag.value, 'flag value'), volumes, socketDir);
  });

  it('the kind cluster mounts the plugin files into the node and patches kube-apiserver the same way', () => {
    const socketDir = dirname(loadStaticPod('static-pod-token.yaml').config.socket.path);
    const doc = onlyDoc('kind-cluster.yaml');
    assert.equal(doc.apiVersion, 'kind.x-k8s.io/v1alpha4');
    assert.equal(doc.kind, 'Cluster');
    const [node] = asList(doc.nodes, 'nodes').map((n) => asMap(n, 'node'));
    assert.equal(node.role, 'control-plane');
    const mounts = asList(node.extraMounts, 'extraMounts').map((m) => asString(asMap(m, 'extraMount').containerPath, 'containerPath'));
    assert.ok(mounts.includes(socketDir), 'socket directory mounted into the node');
    assert.ok(mounts.some((m) => /^\/etc\/kubernetes\/manifests\/[\w.-]+\.yaml$/.test(m)), 'static Pod placed into the manifests directory');
    const patches = asList(doc.kubeadmConfigPatches, 'kubeadmConfigPatches').map((p) => asMap(parseYaml(asString(p, 'patch'))[0], 'patch'));
    const cluster = patches.find((p) => p.kind === 'ClusterConfiguration');
    assert.ok(cluster, 'a ClusterConfiguration patch');
    const apiServer = asMap(cluster.apiServer, 'apiServer');
    const configPath = asString(asMap(apiServer.extraArgs, 'extraArgs')['encryption-provider-config'], 'encryption-provider-config');
    const volumes = asList(apiServer.extraVolumes, 'extraVolumes').map((v) => asMap(v, 'extraVolume'));
    checkApiServer(configPath, volumes, socketDir);
    assert.ok(mounts.some((m) => isUnder(configPath, m)), 'the encryption configuration is mounted into the node');
  });
});
