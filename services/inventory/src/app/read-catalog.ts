import type { Queryable } from '@shop/platform';
import { DomainError, validationFailed } from '../domain/errors';
import type { CatalogReader, ProductRecord, StockLevelRecord } from '../domain/ports';
import type { Quote } from '../domain/pricing';
import { quote } from '../domain/pricing';
import type { ItemInput } from '../domain/validation';
import { itemsViolations, skuViolations } from '../domain/validation';
import { PgInventoryStore } from '../adapters/db/pg-inventory-store';

/** The read side over the service's pool (the persistence adapter stays behind the app layer). */
export function catalogOf(db: Queryable): CatalogReader {
  return new PgInventoryStore(db);
}

export function listProducts(catalog: CatalogReader): Promise<ProductRecord[]> {
  return catalog.listProducts();
}

export async function getProduct(catalog: CatalogReader, sku: string): Promise<ProductRecord> {
  const violations = skuViolations('sku', sku);
  if (violations.length > 0) throw validationFailed(violations);
  const [product] = await catalog.findProducts([sku]);
  if (!product) throw new DomainError('PRODUCT_NOT_FOUND', `no product with sku ${sku}`);
  return product;
}

/** Prices items at current prices; reserves nothing. Every bad line is reported at once. */
export async function quoteItems(catalog: CatalogReader, items: readonly ItemInput[]): Promise<Quote> {
  const violations = itemsViolations(items);
  if (violations.some((v) => v.field === 'items')) throw validationFailed(violations);
  const malformed = new Set(violations.filter((v) => v.field.endsWith('.sku')).map((v) => v.field));
  const lookup = [...new Set(items.filter((_, i) => !malformed.has(`items[${i}].sku`)).map((i) => i.sku))];
  const prices = new Map((await catalog.findProducts(lookup)).map((p) => [p.sku, p.priceCents]));
  items.forEach((item, i) => {
    if (!malformed.has(`items[${i}].sku`) && !prices.has(item.sku))
      violations.push({ field: `items[${i}].sku`, description: 'unknown sku' });
  });
  if (violations.length > 0) throw validationFailed(violations);
  return quote(items, prices);
}

export function listStockLevels(catalog: CatalogReader): Promise<StockLevelRecord[]> {
  return catalog.listStockLevels();
}
