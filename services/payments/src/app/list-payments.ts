import type { Queryable } from '@shop/platform';
import { listPayments as selectPayments } from '../adapters/db/repository';
import { validationFailed } from '../domain/errors';
import type { Payment } from '../domain/payment';
import { validatePaymentQuery } from '../domain/validation';

/** Upper bound on one answer; an order has one payment, a customer rarely more than this. */
export const LIST_LIMIT = 1000;

export async function listPayments(
  db: Queryable,
  query: { orderId: string; customerId: string },
): Promise<Payment[]> {
  const violations = validatePaymentQuery(query);
  if (violations.length > 0) throw validationFailed(violations);
  return selectPayments(
    db,
    {
      ...(query.orderId ? { orderId: query.orderId } : {}),
      ...(query.customerId ? { customerId: query.customerId } : {}),
    },
    LIST_LIMIT,
  );
}
