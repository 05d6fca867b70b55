import { isIP } from 'node:net';
import type { ListenAddress, SocketLocation } from './config';

/**
 * Parsers for option values with Go semantics, so manifests written for the Go
 * plugin mean the same thing here. Each returns undefined on invalid input; the
 * caller names the option in the error.
 */
const GO_DURATION_PART = /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go time.ParseDuration, plus a bare number meaning seconds. Returns milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (/^[+-]?[0-9]+(\.[0-9]+)?$/.test(t)) return Number(t) * 1000;
  const m = /^([+-]?)(.*)$/.exec(t);
  if (!m || m[2] === '') return undefined;
  const body = m[2];
  let total = 0;
  let consumed = 0;
  for (const part of body.matchAll(GO_DURATION_PART)) {
    if (part.index !== consumed) return undefined;
    total += Number(part[1]) * UNIT_MS[part[2]];
    consumed += part[0].length;
  }
  if (consumed !== body.length) return undefined;
  return m[1] === '-' ? -total : total;
}

/** Go strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  switch (text.trim()) {
    case '1': case 't': case 'T': case 'TRUE': case 'true': case 'True':
      return true;
    case '0': case 'f': case 'F': case 'FALSE': case 'false': case 'False':
      return false;
    default:
      return undefined;
  }
}

export function parseInteger(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?[0-9]+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** ":8080", "8080", "127.0.0.1:8080", "[::1]:8080", "localhost:0". */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const t = text.trim();
  let host = '';
  let portText = t;
  const bracketed = /^\[([^\]]+)\]:([0-9]+)$/.exec(t);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else if (t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (host.includes(':')) return undefined;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host, port };
}

/**
 * unix:///abs/path (the documented form), unix://relative/path and unix://@abstract
 * are accepted like the Go plugin accepts them; anything else is rejected.
 */
export function parseSocketUrl(text: string): SocketLocation | undefined {
  const m = /^unix:\/\/(.+)$/i.exec(text.trim());
  if (!m) return undefined;
  let path = m[1];
  if (path.startsWith('/@')) path = path.slice(1);
  if (path.includes('\0') || path.endsWith('/')) return undefined;
  if (path.startsWith('@')) return path.length > 1 ? { path, abstract: true } : undefined;
  return { path, abstract: false };
}

export function parseFileMode(text: string): number | undefined {
  const t = text.trim();
  if (!/^0?[0-7]{3}$/.test(t)) return undefined;
  return parseInt(t, 8);
}

/**
 * The first NO_PROXY entry that cannot mean what it was meant to: a CIDR that
 * does not parse (10.0.0.0/99, vault/24), or a port that is no port
 * (vault:http, vault:0). Host names, domains (".example.com", "*.example.com"),
 * IP addresses and "*" are taken as written, as Go's net/http takes them.
 * Undefined when every entry is usable.
 */
export function malformedNoProxyEntry(noProxy: string): string | undefined {
  for (const entry of noProxy.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    if (entry === '*' || isIP(entry) !== 0) continue;
    if (entry.includes('/')) {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(entry);
      const family = m ? isIP(m[1]) : 0;
      if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) return entry;
      continue;
    }
    const m = /^(\[[^\]]*\]|[^:[\]\s]+)(?::([^:]*))?$/.exec(entry);
    if (!m || (m[1].startsWith('[') && isIP(m[1].slice(1, -1)) !== 6)) return entry;
    if (m[2] !== undefined && !(/^\d{1,5}$/.test(m[2]) && Number(m[2]) >= 1 && Number(m[2]) <= 65535)) return entry;
  }
  return undefined;
}
