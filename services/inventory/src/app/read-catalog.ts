import type { Queryable } from '@shop/platform';
import { DomainError, validationFailed } from '../domain/errors';
import type { ProductRecord, StockLevelRecord } from '../domain/catalog';
import type { Quote } from '../domain/pricing';
import { quote } from '../domain/pricing';
import type { ItemInput } from '../domain/validation';
import { itemsViolations, skuViolations } from '../domain/validation';
import {
  findProducts,
  listProducts as selectProducts,
  listStockLevels as selectStockLevels,
} from '../adapters/db/stock-repo';

export function listProducts(db: Queryable): Promise<ProductRecord[]> {
  return selectProducts(db);
}

export async function getProduct(db: Queryable, sku: string): Promise<ProductRecord> {
  const violations = skuViolations('sku', sku);
  if (violations.length > 0) throw validationFailed(violations);
  const [product] = await findProducts(db, [sku]);
  if (!product) throw new DomainError('PRODUCT_NOT_FOUND', `no product with sku ${sku}`);
  return product;
}

/** Prices items at current prices; reserves nothing. Every bad line is reported at once. */
export async function quoteItems(db: Queryable, items: readonly ItemInput[]): Promise<Quote> {
  const violations = itemsViolations(items);
  if (violations.some((v) => v.field === 'items')) throw validationFailed(violations);
  const malformed = new Set(violations.filter((v) => v.field.endsWith('.sku')).map((v) => v.field));
  const lookup = [...new Set(items.filter((_, i) => !malformed.has(`items[${i}].sku`)).map((i) => i.sku))];
  const prices = new Map((await findProducts(db, lookup)).map((p) => [p.sku, p.priceCents]));
  items.forEach((item, i) => {
    if (!malformed.has(`items[${i}].sku`) && !prices.has(item.sku))
      violations.push({ field: `items[${i}].sku`, description: 'unknown sku' });
  });
  if (violations.length > 0) throw validationFailed(violations);
  return quote(items, prices);
}

export function listStockLevels(db: Queryable): Promise<StockLevelRecord[]> {
  return selectStockLevels(db);
}
