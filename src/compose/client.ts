import { parseClientFlags } from '../config/command-line';
import { OPTION_BY_FLAG } from '../config/options';
import { parseDurationMs, parseSocketUrl } from '../config/values';
import { clientCommand } from '../adapters/cli-client/client-command';
import { KmsSocketClient } from '../adapters/grpc/kms-socket-client';
import { STDIO } from './stdio';

/** `vault-kubernetes-kms client ...`: the gRPC adapter's socket client, with the plugin's own socket URL and duration syntax. */
export function runClient(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return clientCommand(argv, {
    ...STDIO,
    parseFlags: parseClientFlags,
    parseSocket: (url: string) => parseSocketUrl(url)?.path,
    parseDuration: parseDurationMs,
    open: (socketPath: string, api: 'v2' | 'v1', timeoutMs: number) => new KmsSocketClient(socketPath, api, timeoutMs),
    defaultSocket: env.VAULT_KMS_SOCKET || (OPTION_BY_FLAG.get('socket')?.default as string),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  });
}
