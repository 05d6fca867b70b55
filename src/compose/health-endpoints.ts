import type { ListenAddress } from '../config/config';
import type { HealthHttpServer } from '../adapters/health/health-http-server';
import type { WinstonLogger } from '../adapters/logging/winston-logger';
import type { PrometheusMetrics } from '../adapters/metrics/prometheus-metrics';

/** How often a health port still held by another process is logged again (every attempt is counted in the metrics). */
const HEALTH_PORT_NAG_INTERVAL_MS = 60_000;

/**
 * Binds the health port without ever stopping the socket: while another process holds the port, the probes and
 * scrapes that reach it are answered by that process, so it is logged as an error at once and again every minute.
 */
export function serveHealthEndpoints(server: HealthHttpServer, port: ListenAddress, log: WinstonLogger, metrics: PrometheusMetrics): void {
  const where = `${port.host || '*'}:${port.port}`;
  let firstFailureAt = 0;
  let lastNagAt = Number.NEGATIVE_INFINITY;
  server.startRetrying({
    failed: (e, attempt, nextRetryMs) => {
      metrics.healthPortBind(false);
      const now = Date.now();
      if (attempt === 1) firstFailureAt = now;
      if (now - lastNagAt < HEALTH_PORT_NAG_INTERVAL_MS) return;
      lastNagAt = now;
      const held = e.code === 'EADDRINUSE';
      log.error(
        held
          ? 'the health port is held by another process: /live, /health and /metrics there are NOT this plugin\'s answers (probes may be forged); the KMS socket keeps serving, retrying the port'
          : 'cannot serve the health endpoints; the KMS socket keeps serving, retrying the port',
        { health_port: where, error: e.code ?? e.message, attempts: attempt, failing_for_s: Math.round((now - firstFailureAt) / 1000), next_retry_ms: nextRetryMs },
      );
    },
    bound: (addr, failedAttempts) => {
      metrics.healthPortBind(true);
      const fields = { address: addr.address, port: addr.port };
      if (failedAttempts === 0) log.info('health endpoints listening', fields);
      else log.warn('health endpoints listening', { ...fields, failed_attempts: failedAttempts, unavailable_for_s: Math.round((Date.now() - firstFailureAt) / 1000) });
    },
  });
}
