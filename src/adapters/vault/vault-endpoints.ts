import type { Dispatcher } from 'undici';
import { Agent } from './undici-dispatchers';
import type { VaultClientSettings } from './vault-settings';

/** One configured Vault address and the connection pool that reaches it. */
export interface VaultEndpoint {
  /** As configured (no user-info: the configuration refuses it), used in logs, metrics and /health. */
  readonly address: string;
  readonly origin: string;
  /** Path prefix of the address (a Vault behind a path-routing proxy), without a trailing slash. */
  readonly basePath: string;
  readonly dispatcher: Dispatcher;
  /** The proxy requests to it go through (HTTPS_PROXY, HTTP_PROXY), if any. */
  readonly proxy?: string;
}

interface EndpointState {
  readonly address: string;
  readonly up: boolean;
  readonly current: boolean;
  /** Why it is down (an error text without secrets), or '' when up. */
  readonly reason: string;
}

/** Sees every change of an address's state or of the address in use. */
export type EndpointsObserver = (states: readonly EndpointState[]) => void;

/**
 * The addresses of -vault-address, with a sticky choice among them: requests
 * go to the address that last worked; when an attempt there fails (connection
 * error, timeout, 5xx, unreachable redirect target), the next address not
 * known to be down becomes the one in use, at once. A failed address is used
 * again only after it passes a check (or when every address has failed, in
 * turn). With one address, nothing here changes how requests are sent.
 */
export class VaultEndpoints {
  readonly all: readonly VaultEndpoint[];
  private readonly up: boolean[];
  private readonly reasons: string[];
  private currentIndex = 0;

  constructor(
    settings: VaultClientSettings,
    dispatcherFor: (url: URL) => Dispatcher,
    private readonly observe: EndpointsObserver = () => {},
    proxyFor: (url: URL) => string | undefined = () => undefined,
  ) {
    const list = settings.addresses && settings.addresses.length > 0 ? settings.addresses : [settings.address];
    this.all = list.map((address) => endpointFor(address, dispatcherFor, proxyFor));
    this.up = this.all.map(() => true);
    this.reasons = this.all.map(() => '');
  }

  current(): VaultEndpoint {
    return this.all[this.currentIndex];
  }

  /** The configured endpoint with this origin (a redirect target), if any. */
  byOrigin(origin: string): VaultEndpoint | undefined {
    return this.all.find((e) => e.origin === origin && !e.address.startsWith('unix:'));
  }

  /** An attempt on `endpoint` failed: mark it down and, if it was in use, move on to the next candidate. */
  failed(endpoint: VaultEndpoint, reason: string): void {
    const i = this.all.indexOf(endpoint);
    if (i < 0) return;
    const changed = this.up[i] || this.reasons[i] !== reason;
    this.up[i] = false;
    this.reasons[i] = reason;
    if (i === this.currentIndex && this.all.length > 1) {
      this.currentIndex = this.nextCandidate(i);
      this.notify();
    } else if (changed) this.notify();
  }

  /** Vault answered on `endpoint` (a request or a check): it may be chosen again. Does not move the choice. */
  succeeded(endpoint: VaultEndpoint): void {
    const i = this.all.indexOf(endpoint);
    if (i < 0 || this.up[i]) return;
    this.up[i] = true;
    this.reasons[i] = '';
    this.notify();
  }

  states(): EndpointState[] {
    return this.all.map((e, i) => ({ address: e.address, up: this.up[i], current: i === this.currentIndex, reason: this.reasons[i] }));
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((e) => e.dispatcher.close()));
  }

  /** The next address after `from` that is not known to be down; if all are, simply the next one. */
  private nextCandidate(from: number): number {
    const n = this.all.length;
    for (let step = 1; step < n; step++) {
      const j = (from + step) % n;
      if (this.up[j]) return j;
    }
    return (from + 1) % n;
  }

  private notify(): void {
    this.observe(this.states());
  }
}

function endpointFor(address: string, dispatcherFor: (url: URL) => Dispatcher, proxyFor: (url: URL) => string | undefined): VaultEndpoint {
  const url = new URL(address);
  if (url.protocol === 'unix:') {
    const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { socketPath: url.pathname } });
    return { address, origin: 'http://localhost', basePath: '', dispatcher };
  }
  return { address, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), dispatcher: dispatcherFor(url), proxy: proxyFor(url) };
}
