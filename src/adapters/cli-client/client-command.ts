import { lstat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ClientFlags } from './client-settings';

/** The socket client the composition root hands in (the gRPC adapter's KmsSocketClient). */
export interface KmsSocketConnection {
  status(): Promise<Record<string, unknown>>;
  encrypt(plaintext: Buffer, uid: string): Promise<{ ciphertext: Buffer; keyId?: string; annotations: Record<string, Buffer> }>;
  decrypt(ciphertext: Buffer, keyId: string, uid: string): Promise<Buffer>;
  close(): void;
}

export interface ClientDeps {
  /** The command line read by the program's one parser; throws an Error whose message names the flag. */
  parseFlags(argv: readonly string[]): ClientFlags;
  /** "unix:///path" → the file path; undefined when it is not such a URL. */
  parseSocket(url: string): string | undefined;
  /** "5s" → milliseconds; undefined when it is not a duration. */
  parseDuration(text: string): number | undefined;
  open(socketPath: string, api: 'v2' | 'v1', timeoutMs: number): KmsSocketConnection;
  /** -socket when not given: VAULT_KMS_SOCKET, else the plugin's default. */
  readonly defaultSocket: string;
  readStdin(): Promise<Buffer>;
  write(out: string | Buffer): void;
  writeError(text: string): void;
}

export const CLIENT_USAGE = `Usage: vault-kubernetes-kms client status|encrypt|decrypt [options] [argument]

A debug client for the plugin's socket, for checking on a node that the
plugin answers, as kube-apiserver would ask it.

  status                 KMS v2 Status (version, healthz, key_id); with -api v1, Version
  encrypt [plaintext]    encrypts the argument, or stdin when there is none;
                         prints the ciphertext (base64), key_id and annotations
  decrypt <ciphertext>   decrypts base64 ciphertext (v2: give -key-id as encrypt
                         printed it); prints the plaintext

  -socket unix:///path   the plugin's socket (env VAULT_KMS_SOCKET; default unix:///opt/kms/vaultkms.socket)
  -api v2|v1             KMS API version (default v2)
  -key-id ID             decrypt: the key_id encrypt returned (v2)
  -output text|json      output format (default text)
  -timeout DURATION      deadline of the call (default 5s)

Exit status: 0 on success (status: and healthz "ok"), 1 when the call failed
or the plugin is unhealthy, 2 for a usage error.
`;

class UsageError extends Error {}

interface ClientArgs {
  readonly command: 'status' | 'encrypt' | 'decrypt';
  readonly argument?: string;
  readonly socket: string;
  readonly api: 'v2' | 'v1';
  readonly keyId: string;
  readonly output: 'text' | 'json';
  readonly timeoutMs: number;
}

/** `client`: one call on the socket. Resolves to the exit code. */
export async function clientCommand(argv: readonly string[], deps: ClientDeps): Promise<number> {
  if (argv.length === 0) {
    deps.writeError(CLIENT_USAGE);
    return 2;
  }
  if (argv.some((a) => /^--?(help|h)$/.test(a))) {
    deps.write(CLIENT_USAGE);
    return 0;
  }
  let args: ClientArgs;
  try {
    args = clientArgs(deps.parseFlags(argv), deps);
  } catch (e) {
    deps.writeError(`vault-kubernetes-kms client: ${(e as Error).message}\nRun vault-kubernetes-kms client -help for the usage.\n`);
    return 2;
  }
  const unreachable = await socketProblem(args.socket);
  if (unreachable) {
    deps.writeError(`vault-kubernetes-kms client: ${unreachable}\n`);
    return 1;
  }
  const conn = deps.open(args.socket, args.api, args.timeoutMs);
  try {
    return await run(args, conn, deps);
  } catch (e) {
    deps.writeError(`vault-kubernetes-kms client: ${describeFailure(e, args)}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    conn.close();
  }
}

async function run(args: ClientArgs, conn: KmsSocketConnection, deps: ClientDeps): Promise<number> {
  const json = args.output === 'json';
  const uid = `vault-kubernetes-kms-client-${randomUUID()}`;
  if (args.command === 'status') {
    const s = await conn.status();
    const fields = args.api === 'v2' ? { version: s.version, healthz: s.healthz, key_id: s.key_id } : { version: s.version, runtime_name: s.runtime_name, runtime_version: s.runtime_version };
    deps.write(json ? JSON.stringify({ api: args.api, ...fields }) + '\n' : Object.entries(fields).map(([k, v]) => `${k}: ${String(v)}`).join('\n') + '\n');
    return args.api === 'v1' || s.healthz === 'ok' ? 0 : 1;
  }
  if (args.command === 'encrypt') {
    const plaintext = args.argument !== undefined ? Buffer.from(args.argument, 'utf8') : await deps.readStdin();
    const r = await conn.encrypt(plaintext, uid);
    const annotations = Object.fromEntries(Object.entries(r.annotations).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const out = { api: args.api, ciphertext: Buffer.from(r.ciphertext).toString('base64'), ...(args.api === 'v2' ? { key_id: r.keyId ?? '' } : {}), annotations };
    if (json) deps.write(JSON.stringify(out) + '\n');
    else {
      const lines = [`ciphertext: ${out.ciphertext}`];
      if (args.api === 'v2') lines.push(`key_id: ${r.keyId ?? ''}`);
      lines.push(`annotations: ${Object.keys(annotations).length === 0 ? '(none)' : Object.entries(annotations).map(([k, v]) => `${k}=${v}`).join(', ')}`);
      deps.write(lines.join('\n') + '\n');
    }
    return 0;
  }
  const text = (args.argument ?? (await deps.readStdin()).toString('utf8')).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new UsageError('the ciphertext must be base64, as encrypt prints it');
  const plaintext = await conn.decrypt(Buffer.from(text, 'base64'), args.keyId, uid);
  // Text mode prints the bytes as they are, so `client decrypt ... > file` gives back the file.
  deps.write(json ? JSON.stringify({ api: args.api, plaintext_base64: plaintext.toString('base64') }) + '\n' : plaintext);
  return 0;
}

/** The values of the flags the parser read, checked; a usage error names the flag. */
function clientArgs(flags: ClientFlags, deps: ClientDeps): ClientArgs {
  const command = flags.action;
  if (flags.operands.length > (command === 'status' ? 0 : 1)) throw new UsageError(`${command} takes ${command === 'status' ? 'no argument' : 'at most one argument'} (quote a plaintext with spaces)`);
  const socketUrl = flags.socket ?? deps.defaultSocket;
  const socket = deps.parseSocket(socketUrl.includes('://') ? socketUrl : `unix://${socketUrl}`);
  if (!socket || socket.startsWith('@')) throw new UsageError(`-socket "${socketUrl}" is not a unix socket URL such as unix:///opt/kms/vaultkms.socket`);
  const api = flags.api ?? 'v2';
  if (api !== 'v2' && api !== 'v1') throw new UsageError(`-api must be v2 or v1, not "${api.slice(0, 20)}"`);
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`-output must be text or json, not "${output.slice(0, 20)}"`);
  const timeoutText = flags.timeout ?? '5s';
  const timeoutMs = deps.parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`-timeout "${timeoutText.slice(0, 20)}" is not a positive duration (examples: 500ms, 5s)`);
  const keyId = flags.keyId ?? '';
  if (command === 'decrypt' && api === 'v2' && keyId === '') throw new UsageError('decrypt with -api v2 needs -key-id (the key_id encrypt printed)');
  return { command, argument: flags.operands[0], socket, api, keyId, output, timeoutMs };
}

/** Why the socket cannot be used, said before dialing: gRPC alone would only say UNAVAILABLE. */
async function socketProblem(path: string): Promise<string | undefined> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) {
    if ((st as NodeJS.ErrnoException).code === 'ENOENT') return `no socket at ${path}: is the plugin running, and is -socket (VAULT_KMS_SOCKET) the path it serves?`;
    if ((st as NodeJS.ErrnoException).code === 'EACCES') {
      const dir = await lstat(dirname(path)).catch(() => undefined);
      const owner = dir ? `, mode ${modeOf(dir.mode)}, owned by uid ${dir.uid} gid ${dir.gid}` : '';
      return `permission denied looking into ${dirname(path)}${owner}: this user (uid ${process.getuid?.() ?? '?'}) may not enter it; ${runAs(dir?.uid)}`;
    }
    return `cannot look at ${path}: ${(st as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  if (!st.isSocket()) return `${path} is not a socket`;
  const probe = await new Promise<string>((done) => {
    const s = connect({ path });
    const finish = (v: string) => {
      s.destroy();
      done(v);
    };
    s.once('connect', () => finish('ok'));
    s.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
  });
  if (probe === 'ok') return undefined;
  if (probe === 'ECONNREFUSED') return `nothing is listening on ${path} (a socket left behind: the plugin is not running)`;
  if (probe === 'EACCES') {
    return `permission denied connecting to ${path}: the socket is mode ${modeOf(st.mode)}, owned by uid ${st.uid} gid ${st.gid}, and this user is uid ${process.getuid?.() ?? '?'}; ${runAs(st.uid)}, or a member of gid ${st.gid} if -socket-mode lets the group in`;
  }
  return `cannot connect to ${path}: ${probe}`;
}

function modeOf(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/** How to run as the user the plugin runs as (65532 in the manifests). */
function runAs(uid: number | undefined): string {
  return uid === undefined ? 'run as the user the plugin runs as, or root' : `run as that user or root: sudo -u '#${uid}' vault-kubernetes-kms client ...`;
}

function describeFailure(e: unknown, args: ClientArgs): string {
  if (e instanceof UsageError) return e.message;
  const err = e as { code?: string; message?: string };
  if (err.code === 'DEADLINE_EXCEEDED') return `no answer within ${args.timeoutMs} ms (-timeout): the plugin is overloaded or its Vault calls hang (${err.message ?? ''})`;
  if (err.code === 'UNIMPLEMENTED' && !/-disable-v/.test(err.message ?? '')) return `${err.message ?? 'UNIMPLEMENTED'} (is KMS ${args.api} enabled in the plugin? see -disable-v1 / -disable-v2)`;
  return err.message ?? 'the call failed';
}
