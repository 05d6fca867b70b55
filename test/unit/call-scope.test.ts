import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { abortReason, CallScope, callerCancelled, deadlineExceeded, isAborted, onAbort } from '../../src/ports/call-context';

/** The request path's cancellation record: a listener list, and a real AbortSignal only when asked for. */
describe('CallScope', () => {
  it('runs each listener once, in order, and keeps the first reason', () => {
    const scope = new CallScope(1000);
    const calls: string[] = [];
    onAbort(scope, () => calls.push('a'));
    onAbort(scope, () => calls.push('b'));
    const first = deadlineExceeded();
    scope.abort(first);
    scope.abort(callerCancelled());
    assert.deepEqual(calls, ['a', 'b']);
    assert.ok(isAborted(scope));
    assert.equal(abortReason(scope), first);
  });

  it('does not call a listener that stopped listening, nor one added after the abort', () => {
    const scope = new CallScope(1000);
    let called = 0;
    const stop = onAbort(scope, () => called++);
    stop();
    scope.abort(callerCancelled());
    onAbort(scope, () => called++);
    assert.equal(called, 0);
  });

  it('makes an AbortSignal only when asked, aborted with the same reason before or after', () => {
    const early = new CallScope(1000);
    const reason = callerCancelled();
    const signal = early.signal;
    assert.equal(signal.aborted, false);
    early.abort(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);

    const late = new CallScope(1000);
    late.abort(reason);
    assert.equal(late.signal.aborted, true);
    assert.equal(late.signal.reason, reason);
  });

  it('reads a plain AbortSignal context the same way', () => {
    const controller = new AbortController();
    const ctx = { deadline: 1000, signal: controller.signal };
    let called = 0;
    onAbort(ctx, () => called++);
    const reason = deadlineExceeded();
    controller.abort(reason);
    assert.equal(called, 1);
    assert.ok(isAborted(ctx));
    assert.equal(abortReason(ctx), reason);
  });
});
