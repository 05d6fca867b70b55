/**
 * Small HTTP helpers for the emulator's own tests (test/integration/
 * vault-server.test.ts imports the case modules in this folder). Requests go
 * over real HTTP with the global fetch.
 */
import { after, before } from 'node:test';
import { startVaultTestServer, VaultTestServer, VaultTestServerOptions } from '../index';

export interface HttpResult {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  /** Parsed body (undefined when empty or not JSON). */
  readonly json: any;
}

export interface CallOptions {
  readonly token?: string;
  /** Serialized as JSON. */
  readonly body?: unknown;
  /** Sent as is (wins over `body`). */
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** `path` is relative to /v1/ unless it starts with "/". */
export async function call(server: VaultTestServer, method: string, path: string, options: CallOptions = {}): Promise<HttpResult> {
  const url = path.startsWith('/') ? server.url + path : `${server.url}/v1/${path}`;
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['X-Vault-Token'] = options.token;
  const bodyless = method === 'GET' || method === 'HEAD';
  const body = bodyless ? undefined : (options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)));
  const res = await fetch(url, { method, headers, body, signal: options.signal, redirect: 'manual' });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, headers: res.headers, json };
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * Starts one server for the enclosing describe() and closes it afterwards.
 * The getter is valid inside tests and hooks.
 */
export function useVaultServer(options: VaultTestServerOptions = {}): () => VaultTestServer {
  let server: VaultTestServer | undefined;
  before(async () => {
    server = await startVaultTestServer(options);
  });
  after(async () => {
    await server?.close();
  });
  return () => {
    if (!server) throw new Error('server not started yet');
    return server;
  };
}

export const ENVELOPE_FIELDS_VAULT = [
  'request_id',
  'lease_id',
  'renewable',
  'lease_duration',
  'data',
  'wrap_info',
  'warnings',
  'auth',
  'mount_type',
];
export const ENVELOPE_FIELDS_OPENBAO = ENVELOPE_FIELDS_VAULT.slice(0, -1);
