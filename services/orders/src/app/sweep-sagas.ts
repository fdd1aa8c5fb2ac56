import { errorMessage, isTransient, runCommand } from '@shop/platform';
import { decideDeadline } from '../domain/saga';
import {
  getOrder,
  lockNextOverdueSaga,
  recordSweepFailure,
  sagaGauges,
  updateSaga,
} from '../adapters/db/orders-repo';
import { applyPlan } from './apply-plan';
import type { AppDeps } from './deps';

const BATCH = 100;

/**
 * One sweep: each saga past its step deadline, one transaction each, claimed with FOR UPDATE SKIP LOCKED so that
 * replicas share the work. A forward step that expired rejects the order (TIMEOUT) and compensates; a compensation
 * (or the commit) that expired is re-sent, and parked after COMPENSATION_MAX_ATTEMPTS sends. Returns sagas handled.
 *
 * A saga whose handling fails is backed off on its own (sweep_retry_at, exponential from `failureBackoffMs`, capped
 * at 5 min; error kept in sweep_error) and the sweep goes on with the next one: one bad saga must not hold back every
 * later deadline. A transient failure (PostgreSQL down) ends the sweep instead; the next tick tries again.
 */
export async function sweepSagas(deps: AppDeps, failureBackoffMs = 1000): Promise<number> {
  let handled = 0;
  for (let i = 0; i < BATCH; i++) {
    let claimed: string | undefined;
    const r = await runCommand(deps, async (tx, outbox) => {
      const saga = await lockNextOverdueSaga(tx);
      if (!saga) return undefined;
      claimed = saga.orderId;
      const order = await getOrder(tx, saga.orderId, true);
      if (!order) throw new Error(`saga ${saga.orderId} has no order`);
      const plan = decideDeadline({ step: saga.step, pending: saga.pending }, order.status);
      if (plan.kind === 'resend' && saga.attempts + 1 >= deps.compensationMaxAttempts) {
        await updateSaga(tx, { ...saga, parked: true });
        deps.logger.error(
          {
            code: 'COMPENSATION_PARKED',
            orderId: saga.orderId,
            step: saga.step,
            pending: saga.pending,
            attempts: saga.attempts + 1,
          },
          'saga step still unconfirmed after the last attempt: parked for an operator',
        );
        return { afterCommit: () => undefined };
      }
      if (plan.kind === 'resend') {
        deps.logger.warn(
          { orderId: saga.orderId, step: saga.step, commands: plan.commands, attempt: saga.attempts + 2 },
          plan.why,
        );
      } else {
        deps.logger.info({ orderId: saga.orderId, step: saga.step }, plan.why);
      }
      const applied = await applyPlan(tx, outbox, deps, order, saga, plan, new Date());
      return { afterCommit: applied.afterCommit };
    }).catch(async (err: unknown) => {
      if (claimed === undefined || isTransient(err)) throw err;
      const failures = await recordSweepFailure(deps.pool, claimed, errorMessage(err), failureBackoffMs);
      deps.logger.error(
        { code: 'SAGA_SWEEP_FAILED', orderId: claimed, failures, err: errorMessage(err) },
        'saga deadline could not be handled: backed off, the sweep goes on with the others',
      );
      return { afterCommit: () => undefined };
    });
    if (!r) break;
    handled += 1;
    r.afterCommit();
  }
  const g = await sagaGauges(deps.pool);
  deps.metrics.inFlight.set(g.inFlight);
  deps.metrics.overdue.set(g.overdue);
  deps.metrics.parked.set(g.parked);
  return handled;
}

/** Runs sweepSagas every intervalMs until stopped; a failed sweep is logged and retried on the next tick. */
export function startSweeper(deps: AppDeps, intervalMs: number): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    running = sweepSagas(deps, intervalMs)
      .then(() => undefined)
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'saga sweep failed'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
