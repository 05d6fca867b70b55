#!/usr/bin/env node
/**
 * Out-of-process entry point for the Go conformance harness, benchmarks and
 * e2e scripts:
 *
 *   node dist/test/support/vault-server/cli.js [--port 0] [--host 127.0.0.1]
 *     [--latency-ms 0] [--flavor vault|openbao] [--tls-cert PEMFILE --tls-key PEMFILE]
 *
 * Prints exactly one JSON line to stdout once listening
 *   {"url":"http://127.0.0.1:PORT","rootToken":"...","kmsToken":"...","roleId":"...","secretId":"..."}
 * and serves until SIGTERM/SIGINT, then exits 0. Anything else goes to stderr.
 */
import type { Flavor } from './envelope';
import { startVaultTestServer, VaultTestServerOptions } from './vault-test-server';

interface CliArgs {
  port: number;
  host: string;
  latencyMs: number;
  flavor: Flavor;
  tlsCert?: string;
  tlsKey?: string;
}

const USAGE =
  'usage: cli.js [--port 0] [--host 127.0.0.1] [--latency-ms 0] [--flavor vault|openbao] [--tls-cert FILE --tls-key FILE]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) fail(`${name} needs a non-negative integer`);
  return Number.parseInt(value, 10);
}

/** Accepts "--name value" and "--name=value". */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { port: 0, host: '127.0.0.1', latencyMs: 0, flavor: 'vault' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    switch (name) {
      case '--port':
        args.port = integer(name, value);
        break;
      case '--host':
        if (!value) fail('--host needs a value');
        args.host = value;
        break;
      case '--latency-ms':
        args.latencyMs = integer(name, value);
        break;
      case '--flavor':
        if (value !== 'vault' && value !== 'openbao') fail('--flavor must be vault or openbao');
        args.flavor = value;
        break;
      case '--tls-cert':
        args.tlsCert = value;
        break;
      case '--tls-key':
        args.tlsKey = value;
        break;
      default:
        fail(`unknown argument ${arg}`);
    }
  }
  if ((args.tlsCert === undefined) !== (args.tlsKey === undefined)) fail('--tls-cert and --tls-key go together');
  return args;
}

async function main(): Promise<void> {
  const args = parseCliArgs(process.argv.slice(2));
  const options: VaultTestServerOptions = {
    port: args.port,
    host: args.host,
    latencyMs: args.latencyMs,
    flavor: args.flavor,
    tls: args.tlsCert && args.tlsKey ? { cert: args.tlsCert, key: args.tlsKey } : undefined,
  };
  const server = await startVaultTestServer(options);
  const line = { url: server.url, rootToken: server.rootToken, kmsToken: server.kmsToken, roleId: server.roleId, secretId: server.secretId };
  process.stdout.write(JSON.stringify(line) + '\n');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`close failed: ${err.message}\n`);
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`vault test server failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
