import { SEED_CATALOG } from '../domain/catalog';
import type { StockStore } from '../domain/ports';

/** Inserts the seed catalog; products that already exist keep their stock (idempotent, safe on every start). */
export function seedCatalog(store: StockStore): Promise<number> {
  return store.seed(SEED_CATALOG);
}
