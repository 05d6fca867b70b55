import { createServer } from 'node:net';
import { tcpListenerHolders, unixListenerHolders, type SocketHolder } from './port-holder';

interface HealthPortVerdict {
  readonly status: 'pass' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
}

/**
 * Whether the plugin could serve /live, /health and /metrics on -health-port:
 * binds it the way the plugin does (and lets go at once). A port that is taken
 * passes only when the plugin serving `socketPath` is the process holding it
 * (check run beside a running plugin); otherwise the holder is named where
 * /proc shows it.
 */
export async function checkHealthPort(host: string, port: number, socketPath: string): Promise<HealthPortVerdict> {
  const where = `${host || '*'}:${port}`;
  if (port === 0) return { status: 'pass', detail: `${where}: port 0, any free port (tests only: the kubelet's probes need a fixed port)` };
  const problem = await tryBind(host, port);
  if (problem === undefined) return { status: 'pass', detail: `${where} is free: the plugin can serve /live, /health and /metrics there` };
  if (problem === 'EACCES') {
    return {
      status: 'fail',
      detail: `${where}: binding a port below 1024 needs root or CAP_NET_BIND_SERVICE (this user: uid ${process.getuid?.() ?? '?'})`,
      fix: 'use a port above 1023 in -health-port (VAULT_KMS_HEALTH_PORT), e.g. 127.0.0.1:8080',
    };
  }
  if (problem === 'EADDRNOTAVAIL') {
    return { status: 'fail', detail: `${where}: no interface of this host has the address ${host}`, fix: 'give an address of this host in -health-port (VAULT_KMS_HEALTH_PORT), e.g. 127.0.0.1:8080' };
  }
  if (problem !== 'EADDRINUSE') return { status: 'fail', detail: `${where}: cannot bind it (${problem})`, fix: 'give another -health-port (VAULT_KMS_HEALTH_PORT)' };

  const holders = await tcpListenerHolders(port);
  const plugin = await unixListenerHolders(socketPath);
  const servesSocket = (h: SocketHolder) => plugin?.some((p) => p.pid === h.pid) ?? false;
  if (holders && holders.length > 0 && holders.every(servesSocket)) {
    return { status: 'pass', detail: `${where} is held by the plugin that serves ${socketPath} (${describe(holders)}): it is running` };
  }
  const fix = `stop what holds the port, or give the plugin another -health-port (VAULT_KMS_HEALTH_PORT) and its probes the same port`;
  if (holders && holders.length > 0) {
    return { status: 'fail', detail: `${where} is already in use by ${describe(holders)}: the plugin would not get its health endpoints there`, fix };
  }
  const unseen = `${where} is already in use by a process this user (uid ${process.getuid?.() ?? '?'}) cannot see (run check as root to name it)`;
  // A plugin already serves the socket: the port is probably its own, but that cannot be shown from here.
  if (plugin && plugin.length === 0) return { status: 'fail', detail: `${unseen}: the plugin would not get its health endpoints there`, fix };
  return { status: 'warn', detail: `${unseen}; a plugin serves ${socketPath}, and may be the one holding it`, fix: 'run check as root to tell' };
}

function describe(holders: readonly SocketHolder[]): string {
  return holders.map((h) => `pid ${h.pid}, ${h.command}`).join('; ');
}

/** Undefined when the port could be bound (and was released again), else the error code. */
function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    server.listen({ host: host || undefined, port, exclusive: true }, () => server.close(() => done(undefined)));
  });
}
