import { mkdtempSync } from 'node:fs';
import { ClusterNode, binariesFromEnv } from './node';
import { runSetupDoc } from './setup-doc';
import { pluginManifest } from './plugin-manifest';
import { RealServer, baoBinary } from '../support/real-server';
import { makeTestPki, type TestPki } from '../support/test-pki';

export const PLUGIN = 'vault-kubernetes-kms';

export function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run npm run test:cluster or npm run cluster:up (test/cluster/run.sh)`);
  return v;
}

export interface Deployment {
  readonly node: ClusterNode;
  readonly bao: RealServer;
  readonly vaultPki: TestPki;
  readonly roleId: string;
  /** Seconds from starting the kubelet to kube-apiserver's /readyz answering 200. */
  readonly bringUpSeconds: number;
}

/**
 * docs/setup.md on a fresh node: OpenBao (non-dev, TLS) prepared by the document's step 1 commands, the
 * throwaway PKI, encryption-config-v2.yaml, the static Pods written in kubeadm's order (etcd, the plugin
 * from manifests/static-pod-approle.yaml, kube-apiserver), then containerd and the kubelet; returns once
 * kube-apiserver is ready. On failure everything started is torn down again.
 */
export async function deploy(): Promise<Deployment> {
  const node = new ClusterNode(mkdtempSync('/tmp/kmsc-'), need('KMS_CLUSTER_NODE_IP'), binariesFromEnv());
  const vaultPki = makeTestPki();
  let bao: RealServer | undefined;
  try {
    bao = await RealServer.start({ mode: 'server', tls: { certFile: vaultPki.certFile, keyFile: vaultPki.keyFile, caFile: vaultPki.caFile }, setUp: false });
    // The plugin runs with hostNetwork and reaches OpenBao on loopback: that is the address AppRole binds to.
    const { roleId } = runSetupDoc({ bao: baoBinary(), vaultAddr: bao.url, rootToken: bao.rootToken, caFile: vaultPki.caFile, kmsDir: node.kmsDir, clientCidr: '127.0.0.1/32' });
    node.makePki();
    node.installEncryptionConfig('encryption-config-v2.yaml');
    node.writeManifest('etcd.yaml', node.etcdManifest());
    node.writeManifest(`${PLUGIN}.yaml`, pluginManifest('static-pod-approle.yaml', { image: need('KMS_CLUSTER_IMAGE'), vaultAddr: bao.url, kmsHostPath: node.kmsDir, roleId }));
    node.writeManifest('kube-apiserver.yaml', node.apiserverManifest());
    await node.startContainerd();
    node.importClusterImages();
    node.importImage(need('KMS_CLUSTER_IMAGE_ARCHIVE'));
    const kubeletStart = Date.now();
    await node.startKubelet();
    await node.waitFor('kube-apiserver /readyz', () => node.api('GET', '/readyz'), (r) => r.status === 200, 240_000, 1000);
    return { node, bao, vaultPki, roleId, bringUpSeconds: (Date.now() - kubeletStart) / 1000 };
  } catch (e) {
    await node.tearDown(process.env.KMS_CLUSTER_KEEP === '1').catch(() => undefined);
    await bao?.close().catch(() => undefined);
    throw e;
  }
}
