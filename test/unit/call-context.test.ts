import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { abortReason, deadlineExceeded, onAbort } from '../../src/ports/call-context';

/** The request path's cancellation: one AbortSignal, aborted with the KmsError to answer with. */
describe('CallContext', () => {
  it('calls a listener once on abort and gives the KmsError it was aborted with', () => {
    const controller = new AbortController();
    const ctx = { deadline: 1000, signal: controller.signal };
    let called = 0;
    onAbort(ctx, () => called++);
    const reason = deadlineExceeded();
    controller.abort(reason);
    assert.equal(called, 1);
    assert.ok(ctx.signal.aborted);
    assert.equal(abortReason(ctx), reason);
  });
});
