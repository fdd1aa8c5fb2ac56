import { DomainError, validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { validateOrderId } from '../domain/validation';
import { getOrder as findOrder } from '../adapters/db/orders-repo';
import type { AppDeps } from './deps';

export async function getOrder(deps: Pick<AppDeps, 'pool'>, orderId: string): Promise<Order> {
  const violations = validateOrderId(orderId);
  if (violations.length > 0) throw validationFailed(violations);
  const order = await findOrder(deps.pool, orderId);
  if (!order) throw new DomainError('ORDER_NOT_FOUND', `order ${orderId} not found`);
  return order;
}
