import { DomainError } from './errors';

export type PaymentStatus = 'AUTHORIZED' | 'DECLINED' | 'REFUNDED';

/** Legal status changes. A payment is created AUTHORIZED or DECLINED; only an authorization can be refunded. */
const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  AUTHORIZED: ['REFUNDED'],
  DECLINED: [],
  REFUNDED: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: PaymentStatus, to: PaymentStatus): void {
  if (!canTransition(from, to)) {
    throw new DomainError('PAYMENT_INVALID_TRANSITION', `a ${from} payment cannot become ${to}`);
  }
}

export interface Payment {
  id: string;
  orderId: string;
  customerId: string;
  amountCents: number;
  currency: string;
  status: PaymentStatus;
  declineReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Account {
  customerId: string;
  creditLimitCents: number;
  availableCents: number;
}

/** Credit currently taken by authorizations that were not refunded. */
export const authorizedCents = (account: Account): number =>
  account.creditLimitCents - account.availableCents;

export const DECLINE_INSUFFICIENT_CREDIT = 'insufficient credit';
export const DECLINE_ORDER_VOIDED = 'order already compensated';

export type AuthorizationDecision =
  { outcome: 'AUTHORIZED'; availableAfterCents: number } | { outcome: 'DECLINED'; reason: string };

/** Pure decision: take the amount from the available credit, or decline. Never lets available go below zero. */
export function decideAuthorization(account: Account, amountCents: number): AuthorizationDecision {
  if (!Number.isSafeInteger(amountCents) || amountCents <= 0) {
    throw new DomainError('VALIDATION_FAILED', 'amount must be a positive integer', [
      { field: 'amount_cents', description: 'must be a positive integer number of minor units' },
    ]);
  }
  if (account.availableCents >= amountCents) {
    return { outcome: 'AUTHORIZED', availableAfterCents: account.availableCents - amountCents };
  }
  return { outcome: 'DECLINED', reason: DECLINE_INSUFFICIENT_CREDIT };
}

/** Ledger amounts are signed so that credit limit + sum(ledger) = available for every account. */
export const ledgerAmount = (kind: 'AUTHORIZATION' | 'REFUND', amountCents: number): number =>
  kind === 'AUTHORIZATION' ? -amountCents : amountCents;
