import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS, OPTION_BY_FLAG } from '../../src/adapters/config/options';
import { HIDDEN_VALUE, findSecretArguments } from '../../src/adapters/runtime/process-exposure';

const SECRET = {
  secret: new Set(OPTIONS.filter((o) => o.secret).map((o) => o.flag)),
  takesValue: (name: string) => OPTION_BY_FLAG.has(name) && OPTION_BY_FLAG.get(name)?.type !== 'boolean',
};

describe('findSecretArguments (the process title without credentials)', () => {
  it('knows the three credential flags of the option table', () => {
    assert.deepEqual([...SECRET.secret].sort(), ['approle-secret-id', 'token', 'userpass-password']);
  });

  it('hides the value in every Go-flag form and keeps the other flags readable', () => {
    const r = findSecretArguments(['-vault-address=https://v:8200', '-token=s.ABC', '--approle-secret-id=xyz', '-userpass-password', 'pw', '-debug'], SECRET);
    assert.deepEqual(r.flags, ['token', 'approle-secret-id', 'userpass-password']);
    assert.deepEqual(r.masked, ['-vault-address=https://v:8200', `-token=${HIDDEN_VALUE}`, `--approle-secret-id=${HIDDEN_VALUE}`, '-userpass-password', HIDDEN_VALUE, '-debug']);
    assert.ok(!r.masked.join(' ').match(/ABC|xyz|pw\b/));
  });

  it('does not take a file flag for the secret one', () => {
    const r = findSecretArguments(['-token-file=/opt/kms/token', '-approle-secret-id-file', '/opt/kms/sid'], SECRET);
    assert.deepEqual(r.flags, []);
    assert.deepEqual(r.masked, ['-token-file=/opt/kms/token', '-approle-secret-id-file', '/opt/kms/sid']);
  });

  it('hides everything after the flags end (a stray `-token= s.SECRET` leaves the secret there)', () => {
    const r = findSecretArguments(['-token=', 's.SECRET', '-debug'], SECRET);
    assert.deepEqual(r.flags, ['token']);
    assert.deepEqual(r.masked, [`-token=${HIDDEN_VALUE}`, HIDDEN_VALUE, HIDDEN_VALUE]);
  });
});
