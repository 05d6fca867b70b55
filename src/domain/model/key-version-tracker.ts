/**
 * Tracks the Transit key's latest version, which is the KMS v2 key_id (a decimal
 * string, as the Go plugin reports it). Versions are learned from background key
 * reads and from every encrypt response. The tracked version never goes
 * backwards: an older version in an encrypt response only means that request
 * started before a rotation. A key *read* reporting a lower latest_version means
 * the key was deleted and recreated; that is surfaced, not silently accepted,
 * because key_id "1" would then name a different key than before.
 */
type KeyObservationSource = 'key-read' | 'encrypt';

interface KeyObservation {
  readonly changed: boolean;
  readonly previous: number | undefined;
  readonly current: number | undefined;
}

export class KeyVersionTracker {
  private latest: number | undefined;
  private regression: { from: number; to: number } | undefined;

  current(): number | undefined {
    return this.latest;
  }

  keyId(): string {
    return this.latest === undefined ? '' : String(this.latest);
  }

  /** Non-undefined while the last key read contradicted the tracked version. */
  regressionDetected(): { from: number; to: number } | undefined {
    return this.regression;
  }

  observe(version: number, source: KeyObservationSource): KeyObservation {
    if (!Number.isSafeInteger(version) || version < 1) {
      return { changed: false, previous: this.latest, current: this.latest };
    }
    const previous = this.latest;
    if (previous !== undefined && version < previous) {
      if (source === 'key-read') {
        this.regression = { from: previous, to: version };
        return { changed: false, previous, current: previous };
      }
      return { changed: false, previous, current: previous };
    }
    if (source === 'key-read') this.regression = undefined;
    this.latest = version;
    return { changed: previous !== version, previous, current: version };
  }
}
