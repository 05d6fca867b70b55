import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatVaultCiphertext, parseVaultCiphertext, splitVaultCiphertext } from '../../src/domain/model/vault-ciphertext';
import { KmsError } from '../../src/ports/errors';

const enc = (s: string) => Buffer.from(s, 'latin1');
const VALID = 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha';

describe('Vault ciphertext validation', () => {
  it('accepts a real Transit ciphertext and reads its version', () => {
    assert.deepEqual(parseVaultCiphertext(enc(VALID), 1000), { text: VALID, version: 1 });
    assert.equal(parseVaultCiphertext(enc(VALID.replace('v1', 'v42')), 1000).version, 42);
  });

  const bad: [string, Uint8Array][] = [
    ['empty', new Uint8Array()],
    ['foreign prefix', enc('k8s:enc:aes:v1:abcd')],
    ['no version separator', enc('vault:v1')],
    ['non-numeric version', enc('vault:vX:' + 'A'.repeat(40))],
    ['non-base64 body', enc('vault:v1:' + '!'.repeat(40))],
    ['body too short for nonce and tag', enc('vault:v1:AAAA')],
    ['binary garbage', Uint8Array.from([0, 1, 2, 255, 254])],
    ['invalid UTF-8', Uint8Array.from([0x76, 0x61, 0xc3, 0x28])],
  ];
  for (const [name, bytes] of bad) {
    it(`rejects ${name} as invalid-argument`, () => {
      assert.throws(() => parseVaultCiphertext(bytes, 1000), (e: unknown) => e instanceof KmsError && e.kind === 'invalid-argument');
    });
  }

  it('rejects a ciphertext over the size limit', () => {
    assert.throws(() => parseVaultCiphertext(enc(VALID), 10), /over the limit/);
  });
});

describe('Vault ciphertext codec', () => {
  it('reads back the version and sealed bytes it wrote', () => {
    const sealed = Buffer.alloc(28, 9);
    const text = formatVaultCiphertext(7, sealed);
    assert.equal(text, `vault:v7:${sealed.toString('base64')}`);
    const parts = splitVaultCiphertext(text);
    assert.equal(parts?.version, 7);
    assert.deepEqual(Buffer.from(parts?.payload ?? '', 'base64'), sealed);
    assert.deepEqual(parseVaultCiphertext(enc(text), 1000), { text, version: 7 });
  });

  it('finds no parts in text of another shape', () => {
    for (const text of ['k8s:enc:aes:v1:abcd', 'vault:v1', 'vault:vX:abcd', 'vault:v:abcd', 'vault:v12345678901:abcd']) {
      assert.equal(splitVaultCiphertext(text), undefined, text);
    }
  });
});
