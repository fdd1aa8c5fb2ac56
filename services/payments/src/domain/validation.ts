import { CUSTOMER_ID, UUID } from '@shop/contracts/rules';
import type { Violation } from './errors';

// The identifier rules are the platform's (@shop/contracts/rules), stated the same way by the gateway's openapi.yaml.

/** Accounts hold credit in one currency; the platform trades in EUR only (shared spec: currency "EUR"). */
export const SUPPORTED_CURRENCIES: readonly string[] = ['EUR'];

export const CUSTOMER_ID_RULE = CUSTOMER_ID.message;
export const UUID_RULE = UUID.message;

export const isUuid = (value: string): boolean => UUID.pattern.test(value);
export const isCustomerId = (value: string): boolean => CUSTOMER_ID.pattern.test(value);

export interface AuthorizeInput {
  orderId: string;
  customerId: string;
  amountCents: number;
  currency: string;
}

// Values are deliberately not echoed in descriptions: they end up in logs and dead-letter headers, and a customer
// id may be personal data.
export function validateAuthorize(input: AuthorizeInput): Violation[] {
  const v: Violation[] = [];
  if (!isUuid(input.orderId)) v.push({ field: 'order_id', description: UUID_RULE });
  if (!isCustomerId(input.customerId)) v.push({ field: 'customer_id', description: CUSTOMER_ID_RULE });
  if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) {
    v.push({ field: 'amount_cents', description: 'must be a positive integer number of minor units' });
  }
  if (!SUPPORTED_CURRENCIES.includes(input.currency)) {
    v.push({ field: 'currency', description: `must be one of ${SUPPORTED_CURRENCIES.join(', ')}` });
  }
  return v;
}

export function validateRefund(input: { orderId: string }): Violation[] {
  return isUuid(input.orderId) ? [] : [{ field: 'order_id', description: UUID_RULE }];
}

/** ListPayments: at least one filter; every filter given must be well formed. */
export function validatePaymentQuery(query: { orderId: string; customerId: string }): Violation[] {
  if (query.orderId === '' && query.customerId === '') {
    const description = 'order_id or customer_id is required';
    return [
      { field: 'order_id', description },
      { field: 'customer_id', description },
    ];
  }
  const v: Violation[] = [];
  if (query.orderId !== '' && !isUuid(query.orderId)) v.push({ field: 'order_id', description: UUID_RULE });
  if (query.customerId !== '' && !isCustomerId(query.customerId)) {
    v.push({ field: 'customer_id', description: CUSTOMER_ID_RULE });
  }
  return v;
}

export function validateCustomerId(customerId: string): Violation[] {
  return isCustomerId(customerId) ? [] : [{ field: 'customer_id', description: CUSTOMER_ID_RULE }];
}
