import { BlockList, isIP } from 'node:net';
import { KmsError } from '../../ports/errors';
import type { VaultClientSettings } from './vault-settings';

/**
 * Which requests to Vault go through the proxy of HTTP_PROXY / HTTPS_PROXY
 * (as Vault's Go client decides it), and what a proxy's refusal means.
 */

/** The proxy requests to `url` go through, if any. */
export function proxyFor(url: URL, settings: VaultClientSettings): string | undefined {
  const proxy = settings.proxy;
  const proxyUrl = url.protocol === 'https:' ? proxy?.httpsProxy : proxy?.httpProxy;
  if (!proxyUrl || isLoopback(url.hostname) || noProxyMatches(proxy?.noProxy ?? '', url)) return undefined;
  return proxyUrl;
}

/**
 * The proxy's refusal to open the tunnel to Vault (undici reports it as an
 * aborted request, UND_ERR_ABORTED), said as what it is. 407: the proxy wants
 * credentials, or refused the ones in the proxy URL (never printed).
 */
export function proxyRefusal(e: unknown, target: URL, proxyUrl: string | undefined): KmsError | undefined {
  const m = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$|^Proxy Authentication Required \((407)\)$/.exec(String((e as Error)?.message ?? ''));
  if (!m || !proxyUrl) return undefined;
  const status = Number(m[1] ?? m[2]);
  const variable = target.protocol === 'https:' ? 'HTTPS_PROXY or https_proxy' : 'HTTP_PROXY or http_proxy';
  let proxy: URL;
  try {
    proxy = new URL(proxyUrl);
  } catch {
    return undefined;
  }
  const where = `the proxy ${proxy.origin} (${variable})`;
  if (status !== 407) return new KmsError('unavailable', `${where} refused to open a tunnel to Vault at ${target.origin}: HTTP ${status}`, { cause: e });
  const why =
    proxy.username !== ''
      ? 'refused the credentials in the proxy URL (HTTP 407 Proxy Authentication Required): check the user name and password in it'
      : `asks for credentials (HTTP 407 Proxy Authentication Required): give them in ${variable.split(' ')[0]} as http://user:password@host:port`;
  return new KmsError('unavailable', `${where} ${why}; the request to Vault at ${target.origin} was not sent`, { cause: e });
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}

/**
 * NO_PROXY as Go reads it: "*", host names (and their subdomains; "*.example.com"
 * as ".example.com"), IPs, CIDRs, each but a CIDR with an optional port. The
 * configuration refuses an entry that cannot be read while a proxy is set; one
 * that slips through anyway matches nothing (never throws).
 */
function noProxyMatches(noProxy: string, url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    if (raw === '*') return true;
    if (isIP(raw) !== 0) {
      if (raw === host) return true;
      continue;
    }
    if (raw.includes('/')) {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(raw);
      const family = m ? isIP(m[1]) : 0;
      if (m && family !== 0 && Number(m[2]) <= (family === 4 ? 32 : 128) && isIP(host) === family) {
        const list = new BlockList();
        list.addSubnet(m[1], Number(m[2]), family === 6 ? 'ipv6' : 'ipv4');
        if (list.check(host, family === 6 ? 'ipv6' : 'ipv4')) return true;
      }
      continue;
    }
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(raw);
    if (!m) continue;
    const entryHost = m[1].replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (m[2] && m[2] !== port) continue;
    if (host === entryHost || host.endsWith(`.${entryHost}`)) return true;
  }
  return false;
}
