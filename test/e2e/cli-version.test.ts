import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../package.json';
import { PluginProcess, REPO_ROOT } from '../support/plugin-process';

/**
 * -version (and --version) of the built CLI or, with KMS_PLUGIN_BIN, of the
 * packaged artifact: our version, the commit the build came from, and the
 * Node.js runtime it runs on (the artifact's embedded one).
 */
function expectedNode(): string {
  if (!process.env.KMS_PLUGIN_BIN) return process.version;
  return execFileSync(join(REPO_ROOT, '.tools/node24/bin/node'), ['--version'], { encoding: 'utf8' }).trim();
}

describe('-version', () => {
  for (const flag of ['-version', '--version']) {
    it(`${flag} prints version, commit and Node.js runtime, and exits 0`, async () => {
      const p = new PluginProcess([flag]);
      assert.equal(await p.exited, 0);
      const [first, commit, node, ...rest] = p.stdout;
      assert.equal(first, `vault-kubernetes-kms v${pkg.version}`);
      assert.deepEqual(rest.filter((l) => l !== ''), []);
      assert.equal(node, `node: ${expectedNode()}`);
      const m = /^commit: (unknown|([0-9a-f]{40})(-dirty)?)$/.exec(commit ?? '');
      assert.ok(m, `commit line: ${commit}`);
      if (existsSync(join(REPO_ROOT, '.git'))) {
        assert.ok(m[2], 'built inside a git checkout, so the commit is known');
        // The build may be older than HEAD (a commit after building); the commit must be one of this repository's.
        execFileSync('git', ['cat-file', '-e', `${m[2]}^{commit}`], { cwd: REPO_ROOT });
      }
    });
  }

  it('the build records "unknown" outside a git checkout, and KMS_BUILD_COMMIT when given', () => {
    const root = mkdtempSync(join(tmpdir(), 'kms-buildinfo-'));
    try {
      mkdirSync(join(root, 'scripts'));
      mkdirSync(join(root, 'src'));
      copyFileSync(join(REPO_ROOT, 'scripts/gen-build-info.mjs'), join(root, 'scripts/gen-build-info.mjs'));
      const env = { PATH: process.env.PATH, GIT_CEILING_DIRECTORIES: tmpdir() };
      execFileSync(process.execPath, [join(root, 'scripts/gen-build-info.mjs')], { env });
      assert.match(readFileSync(join(root, 'src/build-info.generated.ts'), 'utf8'), /BUILD_COMMIT = "unknown";/);
      execFileSync(process.execPath, [join(root, 'scripts/gen-build-info.mjs')], { env: { ...env, KMS_BUILD_COMMIT: 'abc1234' } });
      assert.match(readFileSync(join(root, 'src/build-info.generated.ts'), 'utf8'), /BUILD_COMMIT = "abc1234";/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
