import { ProxiedServer } from './fault-proxy';

/**
 * Real OpenBao behind a FaultProxy as a process of its own, for harnesses that are not Node tests (the Go
 * conformance harness, the benchmark):
 *
 *   node dist/test/support/proxied-openbao-cli.js [--latency-ms N]
 *
 * prints one JSON line once both listen, {"url","rootToken","kmsToken","roleId","secretId"} (url is the proxy's),
 * and serves until SIGTERM or SIGINT. Besides the Vault API the proxy answers POST /_test/seal, POST /_test/unseal
 * (the real server's seal) and GET /_test/stats (the proxy's request counters). Bad arguments exit 2.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let latencyMs = 0;
  if (args.length === 2 && args[0] === '--latency-ms' && /^\d+$/.test(args[1]!)) latencyMs = Number(args[1]);
  else if (args.length !== 0) {
    process.stderr.write('usage: proxied-openbao-cli [--latency-ms N]\n');
    process.exit(2);
  }
  let server: ProxiedServer | undefined;
  const routes = {
    'POST /_test/seal': async () => server?.seal(),
    'POST /_test/unseal': async () => server?.unseal(),
    'GET /_test/stats': async () => server?.stats(),
  };
  server = await ProxiedServer.start({}, { latencyMs, routes });
  const running = server;
  const { url, rootToken, kmsToken, roleId, secretId } = running;
  process.stdout.write(`${JSON.stringify({ url, rootToken, kmsToken, roleId, secretId })}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
