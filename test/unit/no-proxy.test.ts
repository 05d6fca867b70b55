import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/config';
import { parseConfig } from '../../src/config/parse';
import { malformedNoProxyEntry } from '../../src/config/values';
import { proxyFor } from '../../src/adapters/vault/proxy';

/** Whether NO_PROXY keeps a request to `url` off the proxy that HTTPS_PROXY names (none of these hosts is loopback). */
function noProxyMatches(noProxy: string, url: URL): boolean {
  return proxyFor(url, { address: url.href, skipVerify: false, timeoutMs: 1000, maxRetries: 0, proxy: { httpsProxy: 'http://proxy.example:3128', noProxy } }) === undefined;
}

/** issue 22 item 9: NO_PROXY=10.0.0.0/99 with a proxy set crashed start-up with an error naming neither. */
describe('NO_PROXY entries', () => {
  it('finds the entry that cannot be read: a CIDR that does not parse, a port that is no port', () => {
    for (const bad of ['10.0.0.0/99', 'fd00::/129', 'vault/24', '10.0.0.0/', '10.0.0.0/8/8', 'vault:http', 'vault:0', 'vault:70000', '[not-ipv6]:8200']) {
      assert.equal(malformedNoProxyEntry(`localhost, ${bad}, .svc`), bad, bad);
    }
  });

  it('takes every form Go reads as written', () => {
    assert.equal(malformedNoProxyEntry('*'), undefined);
    assert.equal(malformedNoProxyEntry('localhost,127.0.0.1,::1,10.0.0.0/8,fd00::/8,.svc,*.example.com,vault.example.com:8200,[fd00::1]:8200,kubernetes.default.svc.'), undefined);
  });

  it('matching never throws on an entry that slipped through, and reads bare IPv6 and "*." domains', () => {
    assert.equal(noProxyMatches('10.0.0.0/99', new URL('https://10.1.2.3:8200')), false);
    assert.equal(noProxyMatches('fd00::1', new URL('https://[fd00::1]:8200')), true);
    assert.equal(noProxyMatches('*.example.com', new URL('https://vault.example.com:8200')), true);
    assert.equal(noProxyMatches('10.0.0.0/8', new URL('https://10.1.2.3:8200')), true);
  });

  it('with a proxy set, a malformed entry is a configuration error naming NO_PROXY (or no_proxy) and the entry', () => {
    const argv = ['-auth-method=token', '-token=hvs.x', '-vault-address=https://10.1.2.3:8200'];
    for (const [name, proxyVar] of [['NO_PROXY', 'HTTPS_PROXY'], ['no_proxy', 'http_proxy']] as const) {
      assert.throws(
        () => parseConfig(argv, { [proxyVar]: 'http://proxy.example:3128', [name]: 'localhost,10.0.0.0/99' }),
        (e: Error) => e instanceof ConfigError && e.message.startsWith(`invalid ${name}: entry "10.0.0.0/99"`),
      );
    }
    assert.equal(parseConfig(argv, { NO_PROXY: '10.0.0.0/99' }).kind, 'run', 'without a proxy NO_PROXY means nothing');
  });
});
