/**
 * Not a test of the plugin: the file test/unit/runner-guard.test.ts runs under the runner guard to see that a hang
 * fails by name, a suite's own timeout holds, and a child process left running is killed. Prints the child's pid.
 */
import { describe, it, before } from 'node:test';
import { spawn } from 'node:child_process';

describe('a suite that sets its own timeout', { timeout: 20_000 }, () => {
  before(() => new Promise((r) => setTimeout(r, 1500)));
  it('runs longer than the default timeout and passes', () => new Promise((r) => setTimeout(r, 1500)));
});

describe('without a timeout of its own', () => {
  it('hangs on a child process that never exits', async () => {
    const child = spawn('sleep', ['3600'], { stdio: 'ignore' });
    process.stdout.write(`child pid ${child.pid}\n`);
    await new Promise((r) => child.once('exit', r));
  });
  it('still runs after the hang', () => {});
});

describe('a hook that hangs', () => {
  before(() => new Promise(() => {}));
  it('is cancelled, not left waiting', () => {});
});

// A handle that would keep the file's process alive after its tests.
setInterval(() => {}, 60_000);
