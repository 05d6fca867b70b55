// Runs every compiled *.test.js under dist/test with node's test runner.
// Node 20 treats every .js below a folder named "test" as a test file, so the
// files are listed explicitly: helpers such as the fault proxy are not tests.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
// A fresh capture for the leak scan in test/secret-leaks (see test/support/leak-capture.ts).
rmSync('dist/test-capture', { recursive: true, force: true });
// test/image/ and test/cluster/ need root, podman and a private network namespace: only `npm run test:image`
// and `npm run test:cluster` run them.
const wanted = (f) => (only.length === 0 ? !f.includes('/image/') && !f.includes('/cluster/') : only.some((o) => f.includes(o)));
const files = collect('dist/test', []).filter(wanted).sort();
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
// test/secret-leaks/ scans what all other suites captured, so it runs after them.
const scansCapture = (f) => f.includes('/secret-leaks/');
const phases = [files.filter((f) => !scansCapture(f)), files.filter(scansCapture)].filter((p) => p.length > 0);
// Every test and hook gets a timeout, and no child process outlives its file: test/support/runner-guard.ts
// (KMS_TEST_TIMEOUT_MS per test, default 300 s; a suite that runs longer sets its own { timeout }).
// --test-force-exit ends a file once its tests are done even if a handle (a socket, a timer) would keep it alive;
// --test-timeout bounds a whole file as a last resort (Node 20 applies it per file).
const guard = ['--require', join(process.cwd(), 'dist/test/support/runner-guard.js'), '--test-force-exit'];
const fileTimeout = `--test-timeout=${Number(process.env.KMS_TEST_FILE_TIMEOUT_MS || 40 * 60_000)}`;
let status = 0;
for (const phase of phases) {
  const res = spawnSync(process.execPath, [...guard, '--test', '--test-concurrency=2', fileTimeout, ...phase], { stdio: 'inherit' });
  status ||= res.status ?? 1;
}
process.exit(status);
