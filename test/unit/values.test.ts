import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs, parseGoBool, parseListenAddress, parseSocketUrl } from '../../src/config/values';

describe('option value parsers (Go semantics)', () => {
  it('parses Go durations', () => {
    assert.equal(parseDurationMs('60s'), 60_000);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('1h'), 3_600_000);
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('1.5h'), 5_400_000);
    assert.equal(parseDurationMs('30'), 30_000);
    assert.equal(parseDurationMs('-5s'), -5000);
    for (const bad of ['', 's', '5 s', '5x', '1h-2m', 'abc']) assert.equal(parseDurationMs(bad), undefined, bad);
  });

  it('parses booleans like strconv.ParseBool', () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True']) assert.equal(parseGoBool(t), true);
    for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False']) assert.equal(parseGoBool(f), false);
    for (const bad of ['yes', 'no', '', 'on']) assert.equal(parseGoBool(bad), undefined);
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListenAddress(':0'), { host: '', port: 0 });
    assert.equal(parseListenAddress('a:b:c'), undefined);
    assert.equal(parseListenAddress(''), undefined);
  });

  it('parses unix socket URLs as the Go plugin and kube-apiserver do', () => {
    assert.deepEqual(parseSocketUrl('unix:///opt/kms/vaultkms.socket'), { path: '/opt/kms/vaultkms.socket', abstract: false });
    assert.deepEqual(parseSocketUrl('UNIX:///tmp/a.sock'), { path: '/tmp/a.sock', abstract: false });
    assert.deepEqual(parseSocketUrl('unix://rel.sock'), { path: 'rel.sock', abstract: false });
    assert.deepEqual(parseSocketUrl('unix:///@abstract'), { path: '@abstract', abstract: true });
    for (const bad of ['/opt/kms.sock', 'unix://', 'tcp://x', 'unix:///tmp/dir/']) assert.equal(parseSocketUrl(bad), undefined, bad);
  });
});
