import { randomUUID } from 'node:crypto';
import type { Queryable } from '@shop/platform';
import {
  findPaymentAndVoided,
  insertPayment,
  lockOrCreateAccount,
  recordAuthorization,
} from '../adapters/db/repository';
import type { Payment } from '../domain/payment';
import { DECLINE_ORDER_VOIDED, decideAuthorization, ledgerAmount } from '../domain/payment';
import type { AuthorizeInput } from '../domain/validation';

export type AuthorizeResult =
  | { outcome: 'AUTHORIZED'; paymentId: string; amountCents: number; replayed: boolean }
  | { outcome: 'DECLINED'; paymentId: string; reason: string; replayed: boolean };

export const DECLINE_ALREADY_REFUNDED = 'payment already refunded';

/** The answer a second command for the same order gets: what is stored, never a second charge. */
function fromStored(p: Payment): AuthorizeResult {
  switch (p.status) {
    case 'AUTHORIZED':
      return { outcome: 'AUTHORIZED', paymentId: p.id, amountCents: p.amountCents, replayed: true };
    case 'DECLINED':
      return { outcome: 'DECLINED', paymentId: p.id, reason: p.declineReason ?? '', replayed: true };
    case 'REFUNDED':
      // The saga already compensated this order: nothing is held, so the honest answer is "not charged".
      return { outcome: 'DECLINED', paymentId: p.id, reason: DECLINE_ALREADY_REFUNDED, replayed: true };
  }
}

/**
 * Authorizes `amountCents` against the customer's available credit, inside the caller's transaction (which also
 * records the message id and the reply). The account row lock serialises every authorization of one customer.
 */
export async function authorizePayment(
  tx: Queryable,
  cmd: AuthorizeInput,
  opts: { creditLimitCents: number },
): Promise<AuthorizeResult> {
  const { payment: existing, voided } = await findPaymentAndVoided(tx, cmd.orderId);
  if (existing) return fromStored(existing);

  const base = {
    id: randomUUID(),
    orderId: cmd.orderId,
    customerId: cmd.customerId,
    amountCents: cmd.amountCents,
    currency: cmd.currency,
  };
  if (voided) {
    await insertPayment(tx, { ...base, status: 'DECLINED', declineReason: DECLINE_ORDER_VOIDED });
    return { outcome: 'DECLINED', paymentId: base.id, reason: DECLINE_ORDER_VOIDED, replayed: false };
  }

  const account = await lockOrCreateAccount(tx, cmd.customerId, opts.creditLimitCents);
  const decision = decideAuthorization(account, cmd.amountCents);
  if (decision.outcome === 'DECLINED') {
    await insertPayment(tx, { ...base, status: 'DECLINED', declineReason: decision.reason });
    return { outcome: 'DECLINED', paymentId: base.id, reason: decision.reason, replayed: false };
  }
  await recordAuthorization(
    tx,
    base,
    ledgerAmount('AUTHORIZATION', cmd.amountCents),
    decision.availableAfterCents,
  );
  return { outcome: 'AUTHORIZED', paymentId: base.id, amountCents: cmd.amountCents, replayed: false };
}
