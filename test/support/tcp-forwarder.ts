import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP forwarder whose listening side can be switched off and on,
 * to make "Vault unreachable" (connection refused) real without restarting
 * the Vault server and losing its tokens.
 */
export class TcpForwarder {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly port: number, private readonly targetPort: number) {}

  /**
   * A port nothing listens on, for a listener that comes up later. Chosen below
   * the kernel's ephemeral range (32768-60999 by default): a port 0 bind hands
   * out an ephemeral port, which any outgoing connection made in the meantime
   * (the plugin's own retries among them) may take, so the later listen failed
   * with EADDRINUSE now and then.
   */
  static async freePort(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      const s = createServer();
      const bound = await new Promise<boolean>((r) => {
        s.once('error', () => r(false));
        s.listen(port, '127.0.0.1', () => r(true));
      });
      if (bound) {
        await new Promise<void>((r) => s.close(() => r()));
        return port;
      }
      if (attempt >= 50) throw new Error('no free port below the ephemeral range after 50 tries');
    }
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', () => r()));
    this.server = server;
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
