import type { Queryable } from '@shop/platform';
import { SEED_CATALOG } from '../domain/catalog';
import { seedProducts } from '../adapters/db/stock-repo';

/** Inserts the seed catalog; products that already exist keep their stock (idempotent, safe on every start). */
export function seedCatalog(db: Queryable): Promise<number> {
  return seedProducts(db, SEED_CATALOG);
}
