import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KmsApiVersion, KmsOperation, MetricsPort, Outcome } from '../../ports/metrics.port';
import type { VaultAddressCheck } from '../../ports/vault-addresses.port';

const PREFIX = 'vault_kubernetes_kms_';

/**
 * Prometheus metrics. Names of the Go plugin are kept (dashboards keep
 * working) with an added api_version label; labels are closed sets (operation,
 * outcome, error kind), never raw paths, user names or key material.
 */
export class PrometheusMetrics implements MetricsPort {
  readonly registry = new Registry();
  private readonly encryptDuration: Histogram<'api_version'>;
  private readonly decryptDuration: Histogram<'api_version'>;
  private readonly encryptErrors: Counter<'api_version' | 'error_kind'>;
  private readonly decryptErrors: Counter<'api_version' | 'error_kind'>;
  private readonly grpcRequests: Counter<'api_version' | 'operation' | 'outcome'>;
  private readonly renewals: Counter<'outcome'>;
  private readonly tokenExpiry: Gauge;
  private readonly vaultRequests: Histogram<'operation' | 'outcome'>;
  private readonly batchSizes: Histogram<'operation'>;
  private readonly singleFlight: Counter;
  private readonly keyVersionGauge: Gauge;
  private readonly healthy: Gauge;
  /** Labelled by the configured Vault addresses: a fixed set given by the operator, never secret. */
  private readonly addressHealthy: Gauge<'address'>;
  private readonly addressInUse: Gauge<'address'>;
  private readonly healthPortBindFailures: Counter;
  private readonly healthPortBound: Gauge;

  constructor() {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: PREFIX });
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
    this.encryptDuration = new Histogram({ name: `${PREFIX}encryption_operation_duration_seconds`, help: 'KMS Encrypt duration', labelNames: ['api_version'], buckets, registers: [r] });
    this.decryptDuration = new Histogram({ name: `${PREFIX}decryption_operation_duration_seconds`, help: 'KMS Decrypt duration', labelNames: ['api_version'], buckets, registers: [r] });
    this.encryptErrors = new Counter({ name: `${PREFIX}encryption_operation_errors_total`, help: 'failed KMS Encrypt requests', labelNames: ['api_version', 'error_kind'], registers: [r] });
    this.decryptErrors = new Counter({ name: `${PREFIX}decryption_operation_errors_total`, help: 'failed KMS Decrypt requests', labelNames: ['api_version', 'error_kind'], registers: [r] });
    this.grpcRequests = new Counter({ name: `${PREFIX}grpc_requests_total`, help: 'KMS gRPC requests by API version, operation and outcome', labelNames: ['api_version', 'operation', 'outcome'], registers: [r] });
    this.renewals = new Counter({ name: `${PREFIX}token_renewals_total`, help: 'token renewals and re-logins', labelNames: ['outcome'], registers: [r] });
    this.tokenExpiry = new Gauge({ name: `${PREFIX}token_expiry_seconds`, help: 'seconds left on the Vault token at the last lookup or renewal', registers: [r] });
    this.vaultRequests = new Histogram({ name: `${PREFIX}vault_requests_duration_seconds`, help: 'Vault HTTP requests (each attempt) by operation and outcome', labelNames: ['operation', 'outcome'], buckets, registers: [r] });
    this.batchSizes = new Histogram({ name: `${PREFIX}vault_batch_size`, help: 'items per Transit request sent to Vault', labelNames: ['operation'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [r] });
    this.singleFlight = new Counter({ name: `${PREFIX}decrypt_single_flight_hits_total`, help: 'Decrypts answered by sharing an identical in-flight Vault request', registers: [r] });
    this.keyVersionGauge = new Gauge({ name: `${PREFIX}transit_key_version`, help: 'latest Transit key version (the KMS v2 key_id)', registers: [r] });
    this.healthy = new Gauge({ name: `${PREFIX}healthy`, help: '1 while the last background Vault check passed', registers: [r] });
    this.addressHealthy = new Gauge({ name: `${PREFIX}vault_address_healthy`, help: "1 while the Vault address passed the last health check (sys/health, standby ok)", labelNames: ['address'], registers: [r] });
    this.healthPortBindFailures = new Counter({ name: `${PREFIX}health_port_bind_failures_total`, help: 'failed attempts to bind the health port (another process held it: its answers were not this plugin\'s)', registers: [r] });
    this.healthPortBound = new Gauge({ name: `${PREFIX}health_port_bound`, help: '1 while this process serves the health port; it is 0 only between start-up and a successful bind', registers: [r] });
    this.addressInUse = new Gauge({ name: `${PREFIX}vault_address_in_use`, help: '1 for the Vault address requests are sent to (sticky until it fails)', labelNames: ['address'], registers: [r] });
  }

  vaultAddresses(checks: readonly VaultAddressCheck[]): void {
    for (const c of checks) this.addressHealthy.labels(c.address).set(c.ok ? 1 : 0);
  }

  /** Which address the Vault client uses now (from the adapter, on every change). */
  vaultAddressInUse(states: readonly { address: string; current: boolean }[]): void {
    for (const s of states) this.addressInUse.labels(s.address).set(s.current ? 1 : 0);
  }

  /** Labelled children by label values: resolving labels on every request hashes them each time. */
  private readonly requestSeries = new Map<string, { count: () => void; duration?: (s: number) => void; error?: () => void }>();

  kmsRequest(api: KmsApiVersion, op: KmsOperation, outcome: Outcome, seconds: number): void {
    const key = `${api}|${op}|${outcome}`;
    let series = this.requestSeries.get(key);
    if (!series) {
      const counter = this.grpcRequests.labels(api, op, outcome);
      const duration = op === 'encrypt' ? this.encryptDuration.labels(api) : op === 'decrypt' ? this.decryptDuration.labels(api) : undefined;
      const errors = op === 'encrypt' ? this.encryptErrors : op === 'decrypt' ? this.decryptErrors : undefined;
      const error = outcome !== 'success' && errors ? errors.labels(api, outcome) : undefined;
      series = { count: () => counter.inc(), duration: duration && ((s) => duration.observe(s)), error: error && (() => error.inc()) };
      this.requestSeries.set(key, series);
    }
    series.count();
    series.duration?.(seconds);
    series.error?.();
  }

  tokenRenewal(outcome: 'success' | 'failure' | 'relogin'): void {
    this.renewals.inc({ outcome });
  }

  tokenTtl(seconds: number): void {
    this.tokenExpiry.set(seconds);
  }

  keyVersion(version: number): void {
    this.keyVersionGauge.set(version);
  }

  health(healthy: boolean): void {
    this.healthy.set(healthy ? 1 : 0);
  }

  private readonly batchSeries = new Map<string, (n: number) => void>();

  batchSize(op: 'encrypt' | 'decrypt', items: number): void {
    let observe = this.batchSeries.get(op);
    if (!observe) {
      const child = this.batchSizes.labels(op);
      observe = (n) => child.observe(n);
      this.batchSeries.set(op, observe);
    }
    observe(items);
  }

  /** The health server's bind attempts; the series outlives a squatter, so a scrape after it left still shows it. */
  healthPortBind(bound: boolean): void {
    if (bound) this.healthPortBound.set(1);
    else this.healthPortBindFailures.inc();
  }

  singleFlightHit(): void {
    this.singleFlight.inc();
  }

  /** Called by the Vault HTTP client for every attempt. */
  vaultRequest(operation: string, outcome: string, seconds: number): void {
    // Both labels are closed sets (the client's operation names, 2xx..5xx/error): the cache stays small.
    const key = `${operation}|${outcome}`;
    let observe = this.vaultSeries.get(key);
    if (!observe) {
      const child = this.vaultRequests.labels(operation, outcome);
      observe = (s) => child.observe(s);
      this.vaultSeries.set(key, observe);
    }
    observe(seconds);
  }

  private readonly vaultSeries = new Map<string, (seconds: number) => void>();

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
