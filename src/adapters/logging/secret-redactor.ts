import type { SecretOrigin } from '../../ports/logger.port';

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
 * Vault tokens (hvs. service, hvb. batch, hvr. recovery: about 90 characters
 * and more) and OpenBao's and older Vault's (s., b., r. and 24 characters;
 * a namespace's tokens end in ".<namespace id>").
 */
const VAULT_TOKEN = /^(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9]+)?$/;
/** Any other issued credential (a JWT): one word of a token alphabet, this long at least. */
const TOKEN_WORD = /^[A-Za-z0-9+/=._~-]{24,}$/;
/**
 * And random-looking: small and capital letters and digits, as base64 of
 * random bytes has (a JWT always: its header starts "eyJ"), and no long runs
 * of the same few characters (a repeated word). A host name (small letters,
 * digits, dots and hyphens) never passes.
 */
const MIN_BITS_PER_CHAR = 3;
/** An issued value longer than this is no token (a JWT is a few KiB); it is not kept. */
const MAX_ISSUED_SECRET_CHARS = 16 * 1024;

/**
 * Whether a value another party issued looks like a credential: a Vault or
 * OpenBao token, or a long word of random-looking characters from a token
 * alphabet (a JWT). Never a word of the language, a phrase, a host name or
 * address, or a short string: registering those would let the issuer erase
 * them from every later log line.
 */
export function looksLikeToken(value: string): boolean {
  if (value.length > MAX_ISSUED_SECRET_CHARS) return false;
  if (VAULT_TOKEN.test(value)) return true;
  if (!TOKEN_WORD.test(value)) return false;
  return /[a-z]/.test(value) && /[A-Z]/.test(value) && /[0-9]/.test(value) && bitsPerChar(value) >= MIN_BITS_PER_CHAR;
}

/** Shannon entropy of the characters of `text`, in bits per character. */
function bitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

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

  /**
   * A secret read or received at run time. The operator's (a credential
   * file's content) is hidden whatever it looks like; an issued one only if
   * it looks like a token (see looksLikeToken).
   */
  register(secret: string | undefined, origin: SecretOrigin): void {
    if (!secret || secret.length < MIN_SECRET_LENGTH) return;
    if (origin === 'issued' && !looksLikeToken(secret)) return;
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
