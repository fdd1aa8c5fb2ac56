import { DomainError, validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { validateOrderId } from '../domain/validation';
import { getOrder as findOrder } from '../adapters/db/orders-repo';
import type { AppDeps, Caller } from './deps';
import { mayAccess } from './deps';

/** Another customer's order is NOT_FOUND, word for word like a missing one: its existence is not revealed. */
export async function getOrder(
  deps: Pick<AppDeps, 'pool'>,
  orderId: string,
  caller?: Caller,
): Promise<Order> {
  const violations = validateOrderId(orderId);
  if (violations.length > 0) throw validationFailed(violations);
  const order = await findOrder(deps.pool, orderId);
  if (!order || !mayAccess(caller, order.customerId))
    throw new DomainError('ORDER_NOT_FOUND', `order ${orderId} not found`);
  return order;
}
