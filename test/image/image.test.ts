/**
 * The image as a kubelet would run it (`npm run test:image`, through scripts/image/test.sh, which
 * builds it from the real Containerfile and runs this file in a private network namespace).
 * The container gets exactly the command and env of manifests/static-pod-token.yaml (only the
 * Vault address points at a real OpenBao with TLS here), the manifest's hostPath bind-mounted at
 * its mountPath, and the manifest's securityContext as podman flags: user 65532:65532, read-only
 * root, all capabilities dropped, no privilege escalation. Then, from the host side:
 * the socket appears 0600 owned by 65532, /live and /health answer on the manifest's probe
 * address, a KMS v2 round trip through the mounted socket reaches Vault, the root is read-only,
 * the process has no capabilities, the labels and the SBOM are right, and `podman stop` removes
 * the socket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RealServer } from '../support/real-server';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { KmsTestClient } from '../support/kms-client';
import { REPO_ROOT, eventually } from '../support/plugin-process';

const IMAGE = process.env.KMS_IMAGE ?? '';
const NONROOT = 65532;
// The storage of its own that scripts/image/common.sh gives every podman call (exported by test.sh).
const STORAGE = ['--storage-driver=vfs', '--root', `${process.env.KMS_IMAGE_STORAGE}/root`, '--runroot', `${process.env.KMS_IMAGE_STORAGE_RUN}`];

function podman(...args: string[]): string {
  const res = spawnSync('podman', [...STORAGE, ...args], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
  return res.stdout.trim();
}

/** The parts of the static Pod the container runtime turns into a command line (strict: unexpected shapes fail). */
interface StaticPod {
  readonly command: string[];
  readonly env: Record<string, string>;
  readonly mountPath: string;
}

function readStaticPod(file: string): StaticPod {
  const lines = readFileSync(file, 'utf8').split('\n');
  // The entries of a block list under `key:`: each "- x" line and its continuation lines, until the indentation ends.
  const listUnder = (key: string): string[] => {
    const at = lines.findIndex((l) => l.trim() === `${key}:`);
    assert.ok(at >= 0, `${file}: no "${key}:"`);
    const keyIndent = lines[at].search(/\S/);
    const out: string[] = [];
    for (const l of lines.slice(at + 1)) {
      const t = l.trim();
      if (t === '' || t.startsWith('#')) continue;
      if (l.search(/\S/) <= keyIndent) break;
      out.push(t.startsWith('- ') ? t.slice(2) : t);
    }
    return out;
  };
  const command = listUnder('command');
  const envLines = listUnder('env');
  const env: Record<string, string> = {};
  for (let i = 0; i < envLines.length; i += 2) {
    const name = /^name: (\S+)$/.exec(envLines[i])?.[1];
    const value = /^value: (\S+)$/.exec(envLines[i + 1] ?? '')?.[1];
    assert.ok(name && value, `${file}: env entry ${envLines[i]} / ${envLines[i + 1]}`);
    env[name] = value;
  }
  const mountPath = /^\s+mountPath: (\S+)$/m.exec(lines.join('\n'))?.[1];
  assert.ok(mountPath, `${file}: no volumeMounts mountPath`);
  return { command, env, mountPath };
}

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(l);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

describe('the image, run as manifests/static-pod-token.yaml', { timeout: 600_000 }, () => {
  const name = `kms-image-test-${randomBytes(4).toString('hex')}`;
  const pod = readStaticPod(join(REPO_ROOT, 'manifests/static-pod-token.yaml'));
  const healthArg = pod.command.find((a) => a.startsWith('-health-port='));
  const healthAddr = healthArg ? healthArg.slice('-health-port='.length) : ':8080';
  const healthUrl = `http://${healthAddr.startsWith(':') ? '127.0.0.1' + healthAddr : healthAddr}`;
  let pki: TestPki;
  let bao: RealServer;
  let dir: string;
  let kmsDir: string;
  let socket: string;
  let pid = 0;

  before(async () => {
    assert.ok(IMAGE, 'KMS_IMAGE is not set: run `npm run test:image` (scripts/image/test.sh)');
    // The manifest's fixed health port must not collide with anything else on this machine.
    const outer = process.env.KMS_IMAGE_OUTER_NETNS;
    assert.ok(outer && readlinkSync('/proc/self/ns/net') !== outer, 'not in a private network namespace: run through scripts/image/test.sh');
    pki = makeTestPki();
    bao = await RealServer.start({ mode: 'server', tls: pki });
    // The node's side of the hostPath volume, prepared as the manifest's header says.
    dir = mkdtempSync(join(tmpdir(), 'kms-image-'));
    chmodSync(dir, 0o755);
    kmsDir = join(dir, 'kms');
    mkdirSync(kmsDir, { mode: 0o700 });
    chownSync(kmsDir, NONROOT, NONROOT);
    writeFileSync(join(kmsDir, 'token'), bao.kmsToken, { mode: 0o400 });
    chownSync(join(kmsDir, 'token'), NONROOT, NONROOT);
    copyFileSync(pki.caFile, join(kmsDir, 'ca.crt'));
    chmodSync(join(kmsDir, 'ca.crt'), 0o644);
    socket = join(kmsDir, 'vaultkms.socket');
  });

  after(async () => {
    spawnSync('podman', [...STORAGE, 'rm', '--force', '--time=5', name], { stdio: 'ignore' });
    await bao?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('the manifest runs the image entrypoint with the socket under its volume', () => {
    const entrypoint = JSON.parse(podman('image', 'inspect', '--format', '{{json .Config.Entrypoint}}', IMAGE));
    assert.deepEqual(entrypoint, [pod.command[0]]);
    assert.equal(podman('image', 'inspect', '--format', '{{.Config.User}}', IMAGE), `${NONROOT}:${NONROOT}`);
    assert.ok(pod.command.some((a) => a.startsWith('-vault-address=https://')), 'the manifest talks TLS to Vault');
  });

  it('starts with exactly the manifest arguments and creates the socket 0600, owned by 65532', async () => {
    const args = pod.command.slice(1).map((a) => (a.startsWith('-vault-address=') ? `-vault-address=${bao.url}` : a));
    const env = Object.entries(pod.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    podman(
      'run', '--detach', '--name', name,
      '--runtime', 'runc', '--network=host',
      // securityContext: runAsUser/runAsGroup, readOnlyRootFilesystem, capabilities drop ALL,
      // allowPrivilegeEscalation false.
      '--user', `${NONROOT}:${NONROOT}`, '--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges',
      // podman's default nproc/nofile limits exceed what this machine grants (docs/adr/0005).
      '--ulimit', `nofile=${process.env.KMS_IMAGE_NOFILE ?? '4096'}`, '--ulimit', 'nproc=4096',
      '--volume', `${kmsDir}:${pod.mountPath}`,
      ...env,
      '--entrypoint', pod.command[0],
      IMAGE, ...args,
    );
    pid = Number(podman('inspect', '--format', '{{.State.Pid}}', name));
    assert.ok(pid > 0, 'container process id');
    await eventually(async () => existsSync(socket), (ok) => ok, 120_000, 100).catch((e) => {
      throw new Error(`${e}\n${podman('logs', name)}`);
    });
    const st = lstatSync(socket);
    assert.ok(st.isSocket(), 'a unix socket');
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, NONROOT);
    assert.equal(st.gid, NONROOT);
  });

  it('answers /live and, once Vault was checked, /health on the probe address', async () => {
    const live = await eventually(() => fetch(`${healthUrl}/live`), (r) => r.status === 200, 60_000, 100);
    assert.equal(live.status, 200);
    const health = await eventually(() => fetch(`${healthUrl}/health`), (r) => r.status === 200, 120_000, 200);
    assert.equal(health.status, 200);
  });

  it('does a KMS v2 round trip through the mounted socket, against Vault', async () => {
    // Generous deadlines: under QEMU (the arm64 image on an amd64 machine) every call is slower.
    const client = new KmsTestClient(socket, { timeoutMs: 30_000 });
    bao.resetStats();
    const status = await client.status();
    assert.equal(status.healthz, 'ok');
    assert.equal(status.key_id, '1');
    const plaintext = randomBytes(32);
    const enc = await client.encrypt(plaintext);
    assert.equal(enc.key_id, '1');
    assert.match(enc.ciphertext.toString('utf8'), /^vault:v1:/);
    const dec = await client.decrypt(enc.ciphertext, enc.key_id, enc.annotations);
    assert.deepEqual(Buffer.from(dec.plaintext), plaintext);
    client.close();
    const stats = bao.stats();
    assert.ok((stats['transit.encrypt'] ?? 0) >= 1 && (stats['transit.decrypt'] ?? 0) >= 1, `OpenBao saw the calls: ${JSON.stringify(stats)}`);
  });

  it('runs as 65532 with no capabilities, no privilege escalation, on a read-only root', () => {
    const s = procStatus(pid);
    assert.equal(s.Uid.split(/\s+/).join(' '), `${NONROOT} ${NONROOT} ${NONROOT} ${NONROOT}`);
    assert.equal(s.Gid.split(/\s+/).join(' '), `${NONROOT} ${NONROOT} ${NONROOT} ${NONROOT}`);
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(BigInt(`0x${s[cap]}`), 0n, `${cap} ${s[cap]}`);
    assert.equal(s.NoNewPrivs, '1');
    // mountinfo: "id parent major:minor root mountpoint options ..."
    const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === '/');
    assert.ok(rootMount, 'root mount found');
    assert.ok(rootMount[5].split(',').includes('ro'), `root mounted ${rootMount[5]}`);
    const kmsMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === pod.mountPath);
    assert.ok(kmsMount?.[5].split(',').includes('rw'), 'the socket volume is writable');
  });

  it('carries correct labels and the SBOM of its Node dependencies', () => {
    const labels = JSON.parse(podman('image', 'inspect', '--format', '{{json .Labels}}', IMAGE)) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    assert.equal(labels['org.opencontainers.image.version'], pkg.version);
    assert.equal(labels['org.opencontainers.image.revision'], head);
    assert.equal(labels['org.opencontainers.image.source'], process.env.KMS_IMAGE_SOURCE ?? '');
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    const base = process.env.KMS_IMAGE_BASE ?? '';
    assert.ok(base, 'KMS_IMAGE_BASE is set by scripts/image/test.sh');
    assert.equal(labels['org.opencontainers.image.base.name'], base);
    assert.equal(labels['org.opencontainers.image.base.digest'], podman('image', 'inspect', '--format', '{{.Digest}}', base));

    const copy = join(dir, 'sbom.cdx.json');
    podman('cp', `${name}:/sbom.cdx.json`, copy);
    const sbom = JSON.parse(readFileSync(copy, 'utf8'));
    assert.equal(sbom.bomFormat, 'CycloneDX');
    assert.equal(sbom.metadata.component.name, pkg.name);
    assert.equal(sbom.metadata.component.version, pkg.version);
    const names = new Set<string>(sbom.components.map((c: { name: string }) => c.name));
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(names.has(dep), `SBOM lists ${dep}`);
    for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!names.has(dev), `SBOM omits dev dependency ${dev}`);
    const runtime = sbom.components.find((c: { name: string }) => c.name === 'node');
    assert.match(runtime?.version ?? '', /^24\./, 'the embedded Node.js 24 is listed');
  });

  it('podman stop ends it cleanly and removes the socket; the token never reached the log', () => {
    podman('stop', '--time=20', name);
    assert.equal(podman('inspect', '--format', '{{.State.ExitCode}}', name), '0');
    assert.equal(existsSync(socket), false, 'socket removed');
    const logs = spawnSync('podman', [...STORAGE, 'logs', name], { encoding: 'utf8' });
    const text = logs.stdout + logs.stderr;
    assert.match(text, /removed socket/);
    assert.ok(!text.includes(bao.kmsToken), 'the Vault token is not in the container log');
    assert.ok(existsSync(join(kmsDir, 'token')), 'the token file is left alone');
  });
});
