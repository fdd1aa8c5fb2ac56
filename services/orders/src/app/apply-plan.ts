import type { Outbox, Tx } from '@shop/platform';
import type { Order } from '../domain/order';
import { transition } from '../domain/order';
import type { SagaPlan } from '../domain/saga';
import type { SagaRow } from '../adapters/db/orders-repo';
import { updateOrderStatus, updateSaga } from '../adapters/db/orders-repo';
import { outboxMessages } from './messages';
import type { AppDeps } from './deps';

const OUTCOME = { APPROVED: 'approved', REJECTED: 'rejected', CANCELLED: 'cancelled' } as const;

/**
 * Executes a saga plan inside the caller's unit of work: order transition (with its change notification), saga row,
 * outgoing commands and events (outbox). Returns what to record in metrics once the transaction has committed.
 */
export async function applyPlan(
  tx: Tx,
  outbox: Outbox,
  deps: AppDeps,
  order: Order,
  saga: SagaRow,
  plan: SagaPlan,
  now: Date,
  causationId?: string,
): Promise<{ order: Order; saga: SagaRow; afterCommit: () => void }> {
  let next = order;
  if (plan.order) {
    next = transition(order, plan.order.status, now, plan.order.reason);
    await updateOrderStatus(tx, next);
  }
  const done = plan.next.step === 'DONE';
  const resend = plan.kind === 'resend';
  const newSaga: SagaRow = {
    ...saga,
    step: plan.next.step,
    pending: plan.next.pending,
    stepStartedAt: plan.restartDeadline && !resend ? now : saga.stepStartedAt,
    deadline: done
      ? null
      : plan.restartDeadline
        ? new Date(now.getTime() + deps.stepTimeoutMs)
        : saga.deadline,
    attempts: resend ? saga.attempts + 1 : plan.restartDeadline || done ? 0 : saga.attempts,
    parked: done || (plan.restartDeadline && !resend) ? false : saga.parked,
  };
  const outcome = next.status === 'PENDING' ? undefined : OUTCOME[next.status];
  const countCompletion = done && outcome !== undefined && saga.countedOutcome !== outcome;
  if (countCompletion) newSaga.countedOutcome = outcome;
  await updateSaga(tx, newSaga);
  outbox.send(...outboxMessages([...plan.commands, ...plan.events], next, causationId));
  const m = deps.metrics;
  return {
    order: next,
    saga: newSaga,
    afterCommit: () => {
      if (plan.stepOutcome) {
        // Object form: the platform's histograms have exemplars enabled, which requires it.
        m.stepDuration.observe({
          labels: plan.stepOutcome,
          value: Math.max(0, (now.getTime() - saga.stepStartedAt.getTime()) / 1000),
        });
      }
      for (const c of plan.compensationsStarted) m.compensations.inc({ step: c });
      if (countCompletion && outcome) {
        const reason = next.status === 'CANCELLED' ? 'CUSTOMER_REQUEST' : (next.rejectionReason ?? 'none');
        m.completed.inc({ outcome, reason });
        m.duration.observe({
          labels: { outcome },
          value: Math.max(0, (now.getTime() - order.createdAt.getTime()) / 1000),
        });
      }
    },
  };
}
