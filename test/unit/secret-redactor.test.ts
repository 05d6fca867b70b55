import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REMEMBERED_SECRETS, SecretRedactor } from '../../src/adapters/logging/secret-redactor';

/** issue 10 item 11: the redactor used to keep every token ever issued for the life of the process. */
describe('SecretRedactor memory', () => {
  it('remembers at most MAX_REMEMBERED_SECRETS issued tokens, plus the pinned configured credentials', () => {
    const r = new SecretRedactor();
    r.pin('configured-secret-id');
    for (let i = 0; i < 100_000; i++) r.register(`hvs.token-${i}`);
    assert.equal(r.size, MAX_REMEMBERED_SECRETS + 1);
    assert.equal(r.redactText('id configured-secret-id'), 'id [redacted]', 'a pinned credential is never forgotten');
    assert.equal(r.redactText('t hvs.token-99999'), 't [redacted]', 'the newest token is redacted');
    assert.equal(r.redactText(`t hvs.token-${100_000 - MAX_REMEMBERED_SECRETS}`), 't [redacted]');
    assert.equal(r.redactText('t hvs.token-0'), 't hvs.token-0', 'a token issued 100,000 logins ago is forgotten');
  });

  it('keeps a secret that is registered again (every login re-registers the one in use) however many others come', () => {
    const r = new SecretRedactor(4);
    r.register('in-use-token');
    for (let i = 0; i < 50; i++) {
      r.register(`other-${i}`);
      r.register('in-use-token');
    }
    assert.equal(r.size, 4);
    assert.equal(r.redactText('in-use-token'), '[redacted]');
  });
});
