/**
 * Preloaded into every test file's process by scripts/run-tests.mjs (`--require`), so that a hang is a failure with a
 * name and no process outlives the file that started it:
 *
 * - Every test and every hook gets a timeout (KMS_TEST_TIMEOUT_MS, default 300 s: generous for a loaded 2-CPU
 *   machine). Node 20's `--test-timeout` bounds whole files only, and hooks never inherit a timeout, so a stuck
 *   `await` would otherwise hang the file until someone kills it. A suite that legitimately runs longer says so
 *   itself, `describe(name, { timeout: 600_000 }, ...)`: its tests inherit that value and its hooks get it too. A test
 *   or hook with its own `timeout` keeps it.
 * - When the file's process ends (all tests done, `--test-force-exit`, SIGTERM or SIGINT), every child process it
 *   still has (plugin, OpenBao, SPIRE, a CLI run) is killed, whether or not the test that started it got to its
 *   clean-up.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { createHook, executionAsyncId } from 'node:async_hooks';

export const DEFAULT_TEST_TIMEOUT_MS = Number(process.env.KMS_TEST_TIMEOUT_MS || 300_000);

/** What the test runner's Test, Suite and TestHook objects look like here (node:test internals, Node 20). */
interface RunnerNode {
  timeout: number | null;
  parent: RunnerNode | null;
  constructor: { name: string };
}

/**
 * Gives every test and hook its timeout by watching the runner create them (each is an AsyncResource of type
 * 'Test'), not by wrapping it() and describe(): a wrapper would become the "location" the runner reports for every
 * test. A suite keeps only the timeout it or an enclosing suite set (no default bound on a whole suite); a test
 * without one of its own takes that or the default; a hook takes its own, else its suite's, else the default.
 */
function guardTimeouts(): void {
  const created = new Map<number, RunnerNode>();
  const effective = (node: RunnerNode | undefined): number => node?.timeout ?? DEFAULT_TEST_TIMEOUT_MS;
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (type !== 'Test') return;
      const node = resource as RunnerNode;
      created.set(asyncId, node);
      const kind = node.constructor.name;
      // A hook is created while its suite's (or test's) body runs, in that node's async scope.
      const enclosing = kind === 'TestHook' ? created.get(executionAsyncId()) : undefined;
      let own: number | null = null;
      Object.defineProperty(node, 'timeout', {
        configurable: true,
        enumerable: true,
        set(value: number | null) {
          own = value;
        },
        get(): number | null {
          if (kind === 'Suite' || (kind === 'Test' && node.parent === null)) return own; // a suite, or the root
          if (kind === 'TestHook') return own ?? effective(enclosing);
          return own ?? DEFAULT_TEST_TIMEOUT_MS;
        },
      });
    },
  });
  hook.enable();
  // Suites, their tests and hooks are all created while the test file loads; after that, watching every promise
  // (which an init hook does) would only slow the tests down. Subtests made later inherit from their parent.
  setImmediate(() => hook.disable());
}

/** Child processes of this process that are still alive (Linux /proc; the suite runs on Linux only). */
export function liveChildren(): { pid: number; command: string }[] {
  const out: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
      out.push({ pid: Number(entry), command });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

function killLeftoverChildren(): void {
  for (const child of liveChildren()) {
    try {
      process.kill(child.pid, 'SIGKILL');
      process.stderr.write(`runner-guard: killed pid ${child.pid} left running by this test file: ${child.command}\n`);
    } catch {
      // Already gone.
    }
  }
}

// Only in a test file's own process (the runner starts each with NODE_TEST_CONTEXT set), not in the runner itself:
// the runner's children are the file processes, which clean up after themselves.
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  guardTimeouts();
  process.on('exit', killLeftoverChildren);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + constants.signals[signal]));
  }
}
