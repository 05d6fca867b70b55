/**
 * Removes secrets from anything that leaves the process as text. Two nets:
 * known secret values (registered when read from configuration or received
 * from Vault) are replaced wherever they occur, and fields named like secrets
 * are masked regardless of value.
 */
const SECRET_FIELD = /token|secret|password|plaintext|private.?key|authorization/i;
const MASK = '[redacted]';
const MIN_SECRET_LENGTH = 4;
/**
 * How many secrets are remembered: the most recently registered ones. Every
 * login registers the credential it used and the token it got again, so the
 * ones in use are always among them, while tokens issued long ago (and long
 * expired) are forgotten instead of accumulating for the life of the process.
 */
export const MAX_REMEMBERED_SECRETS = 64;

export class SecretRedactor {
  /** Insertion order is recency order: re-registering moves a secret to the end. */
  private readonly values = new Set<string>();
  private readonly pinned = new Set<string>();

  constructor(private readonly capacity = MAX_REMEMBERED_SECRETS) {}

  register(secret: string | undefined): void {
    if (!secret || secret.length < MIN_SECRET_LENGTH) return;
    this.values.delete(secret);
    this.values.add(secret);
    if (this.values.size > this.capacity) this.values.delete(this.values.values().next().value as string);
  }

  /** A secret from the configuration: remembered for the life of the process (there are at most two). */
  pin(secret: string | undefined): void {
    if (secret && secret.length >= MIN_SECRET_LENGTH) this.pinned.add(secret);
  }

  /** How many secrets are remembered (bounded by the capacity plus the pinned ones). */
  get size(): number {
    return this.values.size + this.pinned.size;
  }

  redactText(text: string): string {
    let out = text;
    for (const v of this.pinned) if (out.includes(v)) out = out.split(v).join(MASK);
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(MASK);
    return out;
  }

  redactValue(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return this.redactText(value);
    if (value instanceof Error) return this.redactText(value.message);
    if (depth > 4 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.redactValue(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretField(k) && v !== '' && v !== undefined && typeof v !== 'boolean' ? MASK : this.redactValue(v, depth + 1);
    }
    return out;
  }

  /** winston format hook: mutates the info object in place (winston keeps symbol keys on it). */
  redactInfo<T extends Record<string, unknown>>(info: T): T {
    for (const key of Object.keys(info)) {
      const v = info[key];
      (info as Record<string, unknown>)[key] =
        key !== 'message' && key !== 'level' && isSecretField(key) && v !== '' && v !== undefined && typeof v !== 'boolean'
          ? MASK
          : this.redactValue(v);
    }
    return info;
  }
}

/** Field names that hold secrets; "token_ttl_seconds" and the like are not secrets. */
function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name) && !/[-_](ttl|seconds|count|renewal|method|file|mount|source|set|interval|path)$/i.test(name);
}
