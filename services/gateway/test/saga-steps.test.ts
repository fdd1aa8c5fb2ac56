// How the event stream shows a saga: each step's state from the saga's own step as orders' WatchOrder pushes it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sagaSteps } from '../src/adapters/http/events';

const states = (...args: Parameters<typeof sagaSteps>) => sagaSteps(...args).map((s) => s.state);

describe('sagaSteps', () => {
  it('walks the forward steps one by one', () => {
    const pending = { status: 'PENDING', rejectionReason: null } as const;
    const approved = { status: 'APPROVED', rejectionReason: null } as const;
    assert.deepEqual(states(pending, { step: 'RESERVE_STOCK', pending: [] }), [
      'in-progress',
      'waiting',
      'waiting',
    ]);
    assert.deepEqual(states(pending, { step: 'AUTHORIZE_PAYMENT', pending: [] }), [
      'done',
      'in-progress',
      'waiting',
    ]);
    assert.deepEqual(states(approved, { step: 'COMMIT_STOCK', pending: [] }), [
      'done',
      'done',
      'in-progress',
    ]);
    assert.deepEqual(states(approved, { step: 'DONE', pending: [] }), ['done', 'done', 'done']);
  });
  it('names the compensations still unconfirmed, then what was undone', () => {
    const declined = { status: 'REJECTED', rejectionReason: 'PAYMENT_DECLINED' } as const;
    assert.deepEqual(states(declined, { step: 'COMPENSATING', pending: ['RELEASE_STOCK'] }), [
      'undoing',
      'failed',
      'skipped',
    ]);
    assert.deepEqual(states(declined, { step: 'DONE', pending: [] }), ['undone', 'failed', 'skipped']);
    const cancelled = { status: 'CANCELLED', rejectionReason: null } as const;
    assert.deepEqual(
      states(cancelled, { step: 'COMPENSATING', pending: ['RELEASE_STOCK', 'REFUND_PAYMENT'] }),
      ['undoing', 'undoing', 'skipped'],
    );
  });
  it('falls back to the status without a saga', () => {
    assert.deepEqual(states({ status: 'APPROVED', rejectionReason: null }), ['done', 'done', 'done']);
    assert.deepEqual(states({ status: 'REJECTED', rejectionReason: 'OUT_OF_STOCK' }), [
      'failed',
      'skipped',
      'skipped',
    ]);
  });
});
