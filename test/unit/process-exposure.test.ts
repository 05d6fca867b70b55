import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS } from '../../src/config/options';
import { HIDDEN_VALUE, SECRET_FLAGS, findSecretArguments } from '../../src/adapters/runtime/process-exposure';

describe('findSecretArguments (the process title without credentials)', () => {
  it('hides exactly the secret options of the option table', () => {
    assert.deepEqual([...SECRET_FLAGS].sort(), OPTIONS.filter((o) => o.secret).map((o) => o.flag).sort());
  });

  it('hides the value in every Go-flag form and keeps the other flags readable', () => {
    const r = findSecretArguments(['-vault-address=https://v:8200', '-token=s.ABC', '--approle-secret-id=xyz', '-userpass-password', 'pw', '-debug'], SECRET_FLAGS);
    assert.deepEqual(r.flags, ['token', 'approle-secret-id', 'userpass-password']);
    assert.deepEqual(r.masked, ['-vault-address=https://v:8200', `-token=${HIDDEN_VALUE}`, `--approle-secret-id=${HIDDEN_VALUE}`, '-userpass-password', HIDDEN_VALUE, '-debug']);
    assert.ok(!r.masked.join(' ').match(/ABC|xyz|pw\b/));
  });

  it('does not take a file flag for the secret one', () => {
    const r = findSecretArguments(['-token-file=/opt/kms/token', '-approle-secret-id-file', '/opt/kms/sid'], SECRET_FLAGS);
    assert.deepEqual(r.flags, []);
    assert.deepEqual(r.masked, ['-token-file=/opt/kms/token', '-approle-secret-id-file', '/opt/kms/sid']);
  });

  it('hides the stray secret of `-token= s.SECRET` and everything after `--`', () => {
    assert.deepEqual(findSecretArguments(['-token=', 's.SECRET', '-debug'], SECRET_FLAGS).masked, [`-token=${HIDDEN_VALUE}`, HIDDEN_VALUE, '-debug']);
    assert.deepEqual(findSecretArguments(['-debug', '--', 's.SECRET'], SECRET_FLAGS).masked, ['-debug', '--', HIDDEN_VALUE]);
  });
});
