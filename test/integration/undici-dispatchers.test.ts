import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

/**
 * undici-dispatchers.ts loads undici's two pools from files under undici/lib/
 * (undici publishes no "exports" map, so nothing promises those paths), to keep
 * fetch, WebSocket and caches out of start-up (about 43 ms of CPU, measured for
 * docs/benchmarks.md). This pins it: an upgrade that moves a file, renames the
 * classes or stops giving every Dispatcher its request() and connect() methods
 * from undici/lib/api fails here instead of at the plugin's first Vault request.
 */
test('the pools loaded from undici/lib are the classes undici publishes, with request() and connect() (pins the private undici paths)', () => {
  const modulePath = require.resolve('../../src/adapters/vault/undici-dispatchers');
  // A fresh process: undici's index, once loaded, would add the methods itself and hide a broken module.
  const probe = `
    const { Agent, ProxyAgent } = require(${JSON.stringify(modulePath)});
    const agent = new Agent();
    const methods = [typeof agent.request, typeof agent.connect];
    const indexLoaded = Object.keys(require.cache).some((f) => /undici[\\\\/]index\\.js$/.test(f));
    const undici = require('undici');
    console.log(JSON.stringify({ methods, indexLoaded, sameAgent: Agent === undici.Agent, sameProxyAgent: ProxyAgent === undici.ProxyAgent }));
    agent.close();`;
  const seen = JSON.parse(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(seen, { methods: ['function', 'function'], indexLoaded: false, sameAgent: true, sameProxyAgent: true });
});
