import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REFUSED_CREDENTIAL_RETRY_MS, RefusedCredential } from '../../src/adapters/vault/auth/refused-credential';

describe('RefusedCredential (no resend of a credential Vault refused, against user lockout)', () => {
  it('holds back only the refused credential, until it changes or the retry time passes', () => {
    let now = 1_000;
    const memory = new RefusedCredential(() => now);
    assert.equal(memory.heldBack('s3cret'), false);
    memory.refuse('s3cret');
    assert.equal(memory.heldBack('s3cret'), true);
    assert.equal(memory.heldBack('new-secret'), false);
    now += REFUSED_CREDENTIAL_RETRY_MS - 1;
    assert.equal(memory.heldBack('s3cret'), true);
    now += 1;
    assert.equal(memory.heldBack('s3cret'), false);
  });

  it('forgets the refusal after an accepted login', () => {
    const memory = new RefusedCredential(() => 0);
    memory.refuse('a');
    memory.accepted();
    assert.equal(memory.heldBack('a'), false);
  });

  it('keeps a fingerprint, never the credential itself', () => {
    const memory = new RefusedCredential(() => 0);
    memory.refuse('very-secret-password');
    assert.doesNotMatch(JSON.stringify(memory), /very-secret-password/);
  });
});
