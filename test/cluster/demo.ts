/**
 * npm run cluster:up: the node of the cluster suite, brought up the same way (test/cluster/deploy.ts) and
 * left running for a demo until npm run cluster:down (SIGTERM) tears it down. test/cluster/run.sh starts
 * it in the background in its own network namespace and prints how to reach it.
 */
import { writeFileSync } from 'node:fs';
import { deploy } from './deploy';

async function main(): Promise<void> {
  const state = process.argv[2];
  const { node, bao, bringUpSeconds } = await deploy();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await node.tearDown();
    await bao.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  writeFileSync(
    state,
    JSON.stringify({ pid: process.pid, base: node.base, kubeconfig: node.adminConf, kubectl: node.bin.kubectl, kmsDir: node.kmsDir, vault: bao.url, bringUpSeconds }) + '\n',
  );
  console.log(`cluster: up in ${bringUpSeconds} s (node files in ${node.base}; OpenBao at ${bao.url})`);
  // Keeps the process (and so containerd, the kubelet and OpenBao, its children) alive until stopped.
  setInterval(() => undefined, 1 << 30);
}

main().catch((e) => {
  console.error(`cluster: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
