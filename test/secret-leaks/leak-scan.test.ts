import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CAPTURE_DIR, PLAINTEXT_MARKER } from '../support/leak-capture';

/**
 * Runs after every other suite (scripts/run-tests.mjs puts test/secret-leaks last).
 * Fails if anything the plugin printed, answered over gRPC or exposed on
 * /metrics during the whole run contains a credential or a plaintext.
 */
describe('no secret leaks across all suites', () => {
  const files = existsSync(CAPTURE_DIR) ? readdirSync(CAPTURE_DIR) : [];
  const output = files.filter((f) => f.startsWith('output-')).map((f) => readFileSync(join(CAPTURE_DIR, f), 'utf8')).join('');
  const secrets = new Set(
    files.filter((f) => f.startsWith('secrets-')).flatMap((f) => readFileSync(join(CAPTURE_DIR, f), 'utf8').split('\n')).filter((s) => s.length >= 6),
  );

  it('captured output from the other suites', () => {
    assert.ok(output.length > 1000, 'the suites ran and captured plugin output');
    assert.ok(secrets.size > 0, 'credentials were recorded');
  });

  it('contains no credential handed to a plugin', () => {
    const leaked = [...secrets].filter((s) => output.includes(s));
    assert.deepEqual(leaked.map((s) => `${s.slice(0, 4)}…(${s.length} chars)`), []);
  });

  it('contains no Vault token of any kind (including ones the plugin obtained by logging in)', () => {
    const m = /\b(hvs|hvb|s)\.[A-Za-z0-9]{20,}/.exec(output);
    assert.equal(m, null, m ? `token-like value near: ${output.slice(Math.max(0, m.index - 80), m.index)}` : '');
  });

  it('contains no plaintext and no base64 of a plaintext', () => {
    assert.equal(output.includes(PLAINTEXT_MARKER), false);
    assert.equal(output.includes(Buffer.from(PLAINTEXT_MARKER).toString('base64').slice(0, 16)), false);
  });

  it('contains no private key material', () => {
    assert.equal(/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(output), false);
  });
});
