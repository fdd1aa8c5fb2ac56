import type { Queryable } from '@shop/platform';
import {
  appendLedger,
  findPaymentByOrder,
  lockAccount,
  setAvailable,
  updatePaymentStatus,
  voidOrder,
} from '../adapters/db/repository';
import { assertTransition, ledgerAmount } from '../domain/payment';

/** `paymentId` is empty when there was nothing to refund: compensation is idempotent and always answered. */
export interface RefundResult {
  paymentId: string;
}

/**
 * Gives an order's authorization back, inside the caller's transaction. Locks in the same order as an
 * authorization (account, then payment) so the two can never deadlock.
 */
export async function refundPayment(tx: Queryable, cmd: { orderId: string }): Promise<RefundResult> {
  const seen = await findPaymentByOrder(tx, cmd.orderId);
  if (!seen) {
    // Compensation overtook the authorization (or there never was one): remember it so a late authorization
    // for this order is declined rather than charged.
    await voidOrder(tx, cmd.orderId);
    return { paymentId: '' };
  }
  if (seen.status !== 'AUTHORIZED') return { paymentId: '' };

  const account = await lockAccount(tx, seen.customerId);
  const payment = await findPaymentByOrder(tx, cmd.orderId, { forUpdate: true });
  if (!account || !payment || payment.status !== 'AUTHORIZED') return { paymentId: '' };

  assertTransition(payment.status, 'REFUNDED');
  await updatePaymentStatus(tx, payment.id, 'REFUNDED');
  await appendLedger(tx, {
    customerId: payment.customerId,
    orderId: payment.orderId,
    paymentId: payment.id,
    kind: 'REFUND',
    amountCents: ledgerAmount('REFUND', payment.amountCents),
  });
  await setAvailable(tx, account.customerId, account.availableCents + payment.amountCents);
  return { paymentId: payment.id };
}
