import { runCommand } from '@shop/platform';
import { DomainError, validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { canTransition } from '../domain/order';
import { decideCancel } from '../domain/saga';
import { validateOrderId } from '../domain/validation';
import { lockSagaAndOrder } from '../adapters/db/orders-repo';
import { applyPlan } from './apply-plan';
import type { AppDeps, Caller } from './deps';
import { mayAccess } from './deps';

/**
 * PENDING or APPROVED -> CANCELLED with every compensation sent (RefundPayment and ReleaseStock are idempotent and
 * answer even when there is nothing to undo; a reply arriving later for a forward step is undone, see saga.ts).
 */
export async function cancelOrder(deps: AppDeps, orderId: string, caller?: Caller): Promise<Order> {
  const violations = validateOrderId(orderId);
  if (violations.length > 0) throw validationFailed(violations);
  const { order, afterCommit } = await runCommand(deps, async (tx, outbox) => {
    const { saga, order: current } = (await lockSagaAndOrder(tx, orderId)) ?? {};
    if (!saga || !current || !mayAccess(caller, current.customerId))
      throw new DomainError('ORDER_NOT_FOUND', `order ${orderId} not found`);
    if (!canTransition(current.status, 'CANCELLED')) {
      throw new DomainError(
        'ORDER_INVALID_TRANSITION',
        `order ${orderId} is ${current.status} and can no longer be cancelled`,
      );
    }
    return applyPlan(tx, outbox, deps, current, saga, decideCancel(saga), new Date());
  });
  afterCommit();
  return order;
}
