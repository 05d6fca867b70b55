import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { MAX_REMEMBERED_SECRETS, SecretRedactor, looksLikeToken } from '../../src/adapters/logging/secret-redactor';

/** A Vault service token as Vault 1.10+ issues them: hvs. and about 90 characters of base62. */
const vaultToken = (n: number) => `hvs.${n.toString(36).padStart(8, '0')}${randomBytes(64).toString('base64url').slice(0, 82)}`;

/** issue 10 item 11: the redactor used to keep every token ever issued for the life of the process. */
describe('SecretRedactor memory', () => {
  it('remembers at most MAX_REMEMBERED_SECRETS issued tokens, plus the pinned configured credentials', () => {
    const r = new SecretRedactor();
    r.pin('configured-secret-id');
    const tokens = Array.from({ length: 100_000 }, (_, i) => `hvs.token-${String(i).padStart(20, '0')}`);
    for (const t of tokens) r.register(t, 'issued');
    assert.equal(r.size, MAX_REMEMBERED_SECRETS + 1);
    assert.equal(r.redactText('id configured-secret-id'), 'id [redacted]', 'a pinned credential is never forgotten');
    assert.equal(r.redactText(`t ${tokens[99_999]}`), 't [redacted]', 'the newest token is redacted');
    assert.equal(r.redactText(`t ${tokens[100_000 - MAX_REMEMBERED_SECRETS]}`), 't [redacted]');
    assert.equal(r.redactText(`t ${tokens[0]}`), `t ${tokens[0]}`, 'a token issued 100,000 logins ago is forgotten');
  });

  it('keeps a secret that is registered again (every login re-registers the one in use) however many others come', () => {
    const r = new SecretRedactor(4);
    r.register('in-use-token', 'operator');
    for (let i = 0; i < 50; i++) {
      r.register(`other-${i}`, 'operator');
      r.register('in-use-token', 'operator');
    }
    assert.equal(r.size, 4);
    assert.equal(r.redactText('in-use-token'), '[redacted]');
  });
});

/** issue 22 item 6: a hostile Vault chose client_token "evidence", and the word vanished from every later log line. */
describe('SecretRedactor: what another party issued is hidden only if it looks like a token', () => {
  it('a hostile Vault issuing "evidence" as its token does not erase the word from later lines', () => {
    const r = new SecretRedactor();
    r.register('evidence', 'issued');
    assert.equal(r.size, 0);
    assert.equal(r.redactText('Vault failed transit read (HTTP 500: evidence of tampering)'), 'Vault failed transit read (HTTP 500: evidence of tampering)');
    assert.deepEqual(r.redactInfo({ message: 'health check failed', reason: 'evidence of tampering' }), { message: 'health check failed', reason: 'evidence of tampering' });
  });

  it('never registers short strings, words, phrases, host names, addresses or repeated text as issued tokens', () => {
    for (const word of [
      'evidence',
      's.evidence',
      'hvs.short',
      'hvs.evidence evidence evidence',
      'vault-evil-node-2.prod.example.com',
      'https://10.0.0.5:8200/v1/transit',
      'connection-refused-by-transit-node',
      'ConnectionRefusedByTransitNodeTwo',
      'Evidence1Evidence1Evidence1Evidence1',
      'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA1',
      randomUUID(),
      `hvs.${'A1'.repeat(20_000)}`.slice(0, 20_000),
    ]) {
      assert.equal(looksLikeToken(word), false, word.slice(0, 60));
    }
  });

  it('registers what Vault, OpenBao and identity providers really issue', () => {
    const jwtPart = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${jwtPart({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${jwtPart({ sub: 'spiffe://kms.test/x', aud: ['vault'], exp: 1_900_000_000 })}.${randomBytes(64).toString('base64url')}`;
    for (const token of [
      vaultToken(1),
      `hvb.AAAAAQ${randomBytes(96).toString('base64url')}`,
      `s.${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`,
      `s.${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}.Ab1Cd`,
      jwt,
      'q83vEjRWeJ+rze8SNFZ4mq3N7xI0VniavO8SNFZ4kA==',
    ]) {
      assert.equal(looksLikeToken(token), true, token);
      const r = new SecretRedactor();
      r.register(token, 'issued');
      assert.equal(r.redactText(`x ${token} y`), 'x [redacted] y');
    }
  });

  it("the operator's own credentials are hidden whatever they look like (a short password, a UUID secret ID)", () => {
    const r = new SecretRedactor();
    const secretId = randomUUID();
    r.register('hunter22', 'operator');
    r.register(secretId, 'operator');
    assert.equal(r.redactText(`pw hunter22 id ${secretId}`), 'pw [redacted] id [redacted]');
  });
});
