/**
 * Request counters for test assertions ("did the plugin batch?", "how many
 * lookup-self calls per minute?"). Keys are stable strings such as
 * `transit.encrypt`; /_test/* control calls are never counted.
 */
import type { Operation } from './policies';
import type { RequestBody } from './request-fields';

export class RequestStats {
  private counts = new Map<string, number>();

  add(key: string, amount = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + amount);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  reset(): void {
    this.counts = new Map();
  }

  /** Sorted copy, so JSON dumps are stable. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of [...this.counts.keys()].sort()) out[key] = this.counts.get(key)!;
    return out;
  }
}

function transitKey(subPath: string, operation: Operation): string {
  const parts = subPath.split('/');
  switch (parts[0]) {
    case 'encrypt':
      return 'transit.encrypt';
    case 'decrypt':
      return 'transit.decrypt';
    case 'keys':
      if (parts.length <= 1 || parts[1] === '') return 'transit.keys.list';
      if (parts[2] === 'rotate') return 'transit.keys.rotate';
      if (parts[2] === 'config') return 'transit.keys.config';
      if (operation === 'read') return 'transit.keys.read';
      if (operation === 'delete') return 'transit.keys.delete';
      return 'transit.keys.create';
    default:
      return 'transit.other';
  }
}

/**
 * Counts one /v1 request. `mountType` is null for unmounted paths.
 * Encrypt/decrypt requests using batch_input also count `<op>.batch` and add
 * their item count to `transit.batch_items`.
 */
export function countRequest(
  stats: RequestStats,
  mountType: string | null,
  subPath: string,
  operation: Operation,
  body: RequestBody,
): void {
  stats.add('total');
  let key: string;
  switch (mountType) {
    case 'transit':
      key = transitKey(subPath, operation);
      break;
    case 'token':
      key = 'token.' + subPath;
      break;
    case 'approle':
      key = subPath === 'login' ? 'approle.login' : 'approle.role';
      break;
    case 'system':
      key = 'sys.' + (subPath.split('/')[0] || 'root');
      break;
    default:
      key = 'unmounted';
  }
  stats.add(key);
  if ((key === 'transit.encrypt' || key === 'transit.decrypt') && Array.isArray(body.batch_input)) {
    stats.add(key + '.batch');
    stats.add('transit.batch_items', body.batch_input.length);
  }
}
