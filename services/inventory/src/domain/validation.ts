import { SKU, UUID, checkString, orderLineViolations } from '@shop/contracts/rules';
import type { Violation } from './errors';

// The identifier and limit rules are the platform's (@shop/contracts/rules), stated the same way by the gateway's
// openapi.yaml and by orders: one sentence for one mistake, whichever service refused it.

export interface ItemInput {
  sku: string;
  quantity: number;
}

export const isUuid = (value: string) => UUID.pattern.test(value);

export function skuViolations(field: string, sku: string): Violation[] {
  if (sku.length === 0) return [{ field, description: 'is required' }];
  const broken = checkString(SKU, sku);
  return broken ? [{ field, description: broken }] : [];
}

export function uuidViolations(field: string, value: string): Violation[] {
  if (value.length === 0) return [{ field, description: 'is required' }];
  return isUuid(value) ? [] : [{ field, description: UUID.message }];
}

/** 1 to 100 lines, each with a well-formed sku (once) and a quantity of 1 to 1000: every violation at once. */
export function itemsViolations(items: readonly ItemInput[], field = 'items'): Violation[] {
  return orderLineViolations(items, field).map((v) => ({ field: v.field, description: v.message }));
}
