import { join } from 'node:path';
import { KmsTestClient } from './kms-client';
import { PluginProcess, eventually, tempSocketDir } from './plugin-process';

/**
 * Starts plugin processes for one e2e file and cleans up after it: each
 * started with the given flags plus a private socket, a free health port and
 * a 1 s background check, with a client on its socket.
 */
export class PluginFixture {
  private readonly processes: PluginProcess[] = [];
  private readonly clients: KmsTestClient[] = [];

  async start(args: readonly string[], opts: { env?: Record<string, string>; socket?: string; waitHealthy?: boolean } = {}) {
    const socket = opts.socket ?? join(tempSocketDir(), 'vaultkms.socket');
    const p = new PluginProcess([...args, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s'], opts.env);
    this.processes.push(p);
    await p.waitForSocket(socket);
    const client = new KmsTestClient(socket);
    this.clients.push(client);
    if (opts.waitHealthy !== false) await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
    return { p, client, socket };
  }

  /** A process started by the test itself, stopped with the others. */
  adopt(p: PluginProcess): PluginProcess {
    this.processes.push(p);
    return p;
  }

  async stopAll(): Promise<void> {
    this.clients.forEach((c) => c.close());
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}
