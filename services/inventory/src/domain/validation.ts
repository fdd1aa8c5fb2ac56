import type { Violation } from './errors';

/** A sku is 1 to 64 characters of A-Z a-z 0-9 . _ - (issue 3, "Bad input"). */
export const SKU_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_ITEMS = 100;
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 1000;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ItemInput {
  sku: string;
  quantity: number;
}

export const isUuid = (value: string) => UUID_PATTERN.test(value);

export function skuViolations(field: string, sku: string): Violation[] {
  if (sku.length === 0) return [{ field, description: 'required' }];
  if (!SKU_PATTERN.test(sku))
    return [{ field, description: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -' }];
  return [];
}

export function uuidViolations(field: string, value: string): Violation[] {
  if (value.length === 0) return [{ field, description: 'required' }];
  return isUuid(value) ? [] : [{ field, description: 'must be a UUID' }];
}

/** 1 to 100 lines, each with a well-formed sku, an integer quantity of 1 to 1000, no sku twice. */
export function itemsViolations(items: readonly ItemInput[], field = 'items'): Violation[] {
  if (items.length < 1 || items.length > MAX_ITEMS) {
    return [{ field, description: `must contain 1 to ${MAX_ITEMS} items (got ${items.length})` }];
  }
  const out: Violation[] = [];
  const firstIndex = new Map<string, number>();
  items.forEach((item, i) => {
    const skuProblems = skuViolations(`${field}[${i}].sku`, item.sku);
    out.push(...skuProblems);
    if (skuProblems.length === 0) {
      const first = firstIndex.get(item.sku);
      if (first === undefined) firstIndex.set(item.sku, i);
      else
        out.push({
          field: `${field}[${i}].sku`,
          description: `duplicate sku (same as ${field}[${first}].sku)`,
        });
    }
    if (!Number.isInteger(item.quantity) || item.quantity < MIN_QUANTITY || item.quantity > MAX_QUANTITY) {
      out.push({
        field: `${field}[${i}].quantity`,
        description: `must be an integer from ${MIN_QUANTITY} to ${MAX_QUANTITY}`,
      });
    }
  });
  return out;
}
