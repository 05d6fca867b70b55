import { Agent } from 'undici';

/**
 * Direct HTTP to the Vault test server from the bench process: the "floor"
 * (the same Transit operation with no plugin in between: undici, keep-alive,
 * one request per operation) and the test server's control API.
 */
export class VaultDirect {
  private readonly agent: Agent;
  private readonly origin: string;

  constructor(url: string, private readonly token: string) {
    this.origin = new URL(url).origin;
    // No connection limit: 200 operations in flight get 200 kept-alive connections.
    this.agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, pipelining: 1 });
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ data?: Record<string, unknown> }> {
    const res = await this.agent.request({
      origin: this.origin,
      path: `/v1/${path}`,
      method,
      headers: body === undefined ? { 'x-vault-token': this.token } : { 'x-vault-token': this.token, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`Vault ${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return JSON.parse(text) as { data?: Record<string, unknown> };
  }

  async encrypt(plaintext: Buffer): Promise<string> {
    const r = await this.call('POST', 'transit/encrypt/kms', { plaintext: plaintext.toString('base64') });
    return String(r.data?.ciphertext);
  }

  async decrypt(ciphertext: string): Promise<Buffer> {
    const r = await this.call('POST', 'transit/decrypt/kms', { ciphertext });
    return Buffer.from(String(r.data?.plaintext), 'base64');
  }

  /** The floor's "Status": one key read, the least a plugin must ask Vault to learn key_id. */
  async readKey(): Promise<number> {
    const r = await this.call('GET', 'transit/keys/kms');
    return Number(r.data?.latest_version);
  }

  /** Setup only (never timed): batch encryptions, 500 items per request. */
  async encryptMany(plaintexts: readonly Buffer[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < plaintexts.length; i += 500) {
      const chunk = plaintexts.slice(i, i + 500);
      const r = await this.call('POST', 'transit/encrypt/kms', { batch_input: chunk.map((p) => ({ plaintext: p.toString('base64') })) });
      const results = r.data?.batch_results as Array<{ ciphertext?: string; error?: string }> | undefined;
      if (!results || results.length !== chunk.length) throw new Error('batch encrypt returned the wrong number of results');
      for (const item of results) {
        if (!item.ciphertext) throw new Error(`batch encrypt item failed: ${item.error ?? 'no ciphertext'}`);
        out.push(item.ciphertext);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** /_test/* of the Vault test server (not counted in its stats). */
export class VaultControl {
  private readonly agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  private readonly origin: string;

  constructor(url: string) {
    this.origin = new URL(url).origin;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, number>> {
    const res = await this.agent.request({
      origin: this.origin,
      path,
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`control ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return JSON.parse(text) as Record<string, number>;
  }

  stats(): Promise<Record<string, number>> {
    return this.call('GET', '/_test/stats');
  }

  async resetStats(): Promise<void> {
    await this.call('POST', '/_test/stats/reset');
  }

  async setLatency(ms: number): Promise<void> {
    await this.call('POST', '/_test/latency', { ms });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
