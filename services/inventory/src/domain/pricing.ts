import type { ItemInput } from './validation';

export const CURRENCY = 'EUR';

export interface QuotedLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export interface Quote {
  lines: QuotedLine[];
  totalCents: number;
  currency: string;
}

/** Prices items (all skus known) in integer cents; the lines keep the request's order. */
export function quote(items: readonly ItemInput[], priceCents: ReadonlyMap<string, number>): Quote {
  const lines = items.map((item) => {
    const unit = priceCents.get(item.sku);
    if (unit === undefined) throw new Error(`no price for ${item.sku}`);
    return { sku: item.sku, quantity: item.quantity, unitPriceCents: unit };
  });
  const totalCents = lines.reduce((sum, l) => sum + l.unitPriceCents * l.quantity, 0);
  if (!Number.isSafeInteger(totalCents)) throw new Error('order total exceeds the safe integer range');
  return { lines, totalCents, currency: CURRENCY };
}
