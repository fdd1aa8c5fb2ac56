import type { CatalogProduct } from './catalog';
import type { LineStatus, OrderStock, OrderStockStatus } from './stock';

export interface ProductRecord {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  initialStock: number;
  onHand: number;
}

export interface StockLevelRecord {
  sku: string;
  initialStock: number;
  onHand: number;
  reserved: number;
  committed: number;
}

export interface ReservationLine {
  sku: string;
  quantity: number;
  status: LineStatus;
}

/** Read side: products and stock levels. */
export interface CatalogReader {
  listProducts(): Promise<ProductRecord[]>;
  findProducts(skus: readonly string[]): Promise<ProductRecord[]>;
  listStockLevels(): Promise<StockLevelRecord[]>;
}

/**
 * Write side, bound to one transaction. Locks are taken in a fixed order (the order row, then its lines, then
 * products by sku) so concurrent commands never deadlock.
 */
export interface StockStore {
  /** The order's record, locked for the rest of the transaction; undefined when inventory never heard of it. */
  lockOrder(orderId: string): Promise<OrderStock | undefined>;
  insertOrder(order: OrderStock): Promise<void>;
  setOrderStatus(orderId: string, status: OrderStockStatus): Promise<void>;
  /** on_hand per known sku, rows locked in sku order; unknown skus are absent. */
  lockProducts(skus: readonly string[]): Promise<Map<string, number>>;
  /** Adds `delta` to on_hand of each sku (negative to reserve); the caller holds the product locks. */
  adjustOnHand(deltas: readonly { sku: string; delta: number }[]): Promise<void>;
  lockLines(orderId: string): Promise<ReservationLine[]>;
  insertLines(orderId: string, lines: readonly ReservationLine[]): Promise<void>;
  setLinesStatus(orderId: string, from: readonly LineStatus[], to: LineStatus): Promise<number>;
  seed(catalog: readonly CatalogProduct[]): Promise<number>;
}
