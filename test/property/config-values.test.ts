import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse';
import { ConfigError } from '../../src/config/config';
import { OPTIONS } from '../../src/config/options';

/** Every flag with arbitrary values, types and combinations: a config or a ConfigError naming an option, nothing else. */
describe('configuration (property-based)', () => {
  it('never throws anything but a ConfigError, which names an option or env var', () => {
    const flag = fc.constantFrom(...OPTIONS.map((o) => o.flag), 'version', 'bogus');
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('', 'true', 'false', '0', '-1', '60s', '0s', '1h', 'unix:///tmp/x.sock', 'https://v', 'token', 'approle', ':8080', '99999'));
    const arg = fc.tuple(fc.constantFrom('-', '--'), flag, fc.option(value, { nil: undefined })).map(([d, f, v]) => (v === undefined ? `${d}${f}` : `${d}${f}=${v}`));
    const env = fc.dictionary(fc.constantFrom(...OPTIONS.flatMap((o) => o.envs), 'VAULT_SKIP_VERIFY', 'VAULT_MAX_RETRIES', 'VAULT_CLIENT_TIMEOUT'), value, { maxKeys: 5 });
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 8 }), env, (argv, envVars) => {
        try {
          const o = parseConfig(argv, envVars);
          assert.ok(['run', 'help', 'version'].includes(o.kind));
        } catch (e) {
          assert.ok(e instanceof ConfigError, `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          assert.ok((e as Error).message.length > 0);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
