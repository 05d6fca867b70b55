/**
 * docs/configuration.md is generated from the option table the CLI uses;
 * these tests fail when it is stale or when the generator drops an option.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OPTIONS } from '../../src/config/options';

const ROOT = resolve(__dirname, '../../..');

describe('docs/configuration.md', () => {
  it('is what scripts/gen-config-docs.mjs generates from the option table', () => {
    const res = spawnSync(process.execPath, ['scripts/gen-config-docs.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
  });

  it('lists every flag with all of its environment variables and its default', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const o of OPTIONS) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`-${o.flag}\` |`));
      assert.ok(row, `-${o.flag} has a row`);
      for (const env of o.envs) assert.ok(row.includes(`\`${env}\``), `-${o.flag} row names ${env}`);
      if (o.default !== undefined) assert.ok(row.includes(`\`${o.default}\``), `-${o.flag} row shows its default`);
    }
  });
});
