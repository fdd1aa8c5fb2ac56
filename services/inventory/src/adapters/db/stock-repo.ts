import type { Queryable } from '@shop/platform';
import type { CatalogProduct, ProductRecord, StockLevelRecord } from '../../domain/catalog';
import type { LineStatus, OrderStock, OrderStockStatus, ReservationLine } from '../../domain/stock';

interface ProductRow {
  sku: string;
  name: string;
  price_cents: number;
  currency: string;
  initial_stock: number;
  on_hand: number;
}

const PRODUCT_COLUMNS = 'sku, name, price_cents, currency, initial_stock, on_hand';
const toProduct = (r: ProductRow): ProductRecord => ({
  sku: r.sku,
  name: r.name,
  priceCents: r.price_cents,
  currency: r.currency,
  initialStock: r.initial_stock,
  onHand: r.on_hand,
});

export async function listProducts(db: Queryable): Promise<ProductRecord[]> {
  const { rows } = await db.query<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products ORDER BY sku`);
  return rows.map(toProduct);
}

export async function findProducts(db: Queryable, skus: readonly string[]): Promise<ProductRecord[]> {
  if (skus.length === 0) return [];
  const { rows } = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products WHERE sku = ANY($1::text[]) ORDER BY sku`,
    [skus],
  );
  return rows.map(toProduct);
}

export async function listStockLevels(db: Queryable): Promise<StockLevelRecord[]> {
  // One statement, so the levels of a product are a consistent snapshot.
  const { rows } = await db.query<{
    sku: string;
    initial_stock: number;
    on_hand: number;
    reserved: number;
    committed: number;
  }>(
    `SELECT p.sku, p.initial_stock, p.on_hand,
            coalesce(sum(r.quantity) FILTER (WHERE r.status = 'RESERVED'), 0)::int AS reserved,
            coalesce(sum(r.quantity) FILTER (WHERE r.status = 'COMMITTED'), 0)::int AS committed
       FROM products p
       LEFT JOIN reservations r ON r.sku = p.sku AND r.status IN ('RESERVED', 'COMMITTED')
      GROUP BY p.sku
      ORDER BY p.sku`,
  );
  return rows.map((r) => ({
    sku: r.sku,
    initialStock: r.initial_stock,
    onHand: r.on_hand,
    reserved: r.reserved,
    committed: r.committed,
  }));
}

/**
 * Writes run in the caller's unit of work and lock in a fixed order (the order row, then its lines, then products by
 * sku) so that concurrent commands never deadlock. Reads take the pool.
 */
export async function lockOrder(db: Queryable, orderId: string): Promise<OrderStock | undefined> {
  const { rows } = await db.query<{
    status: OrderStockStatus;
    reject_reason: string | null;
    unavailable_skus: string[];
  }>('SELECT status, reject_reason, unavailable_skus FROM stock_orders WHERE order_id = $1 FOR UPDATE', [
    orderId,
  ]);
  const r = rows[0];
  return (
    r && { orderId, status: r.status, rejectReason: r.reject_reason, unavailableSkus: r.unavailable_skus }
  );
}

export async function insertOrder(db: Queryable, order: OrderStock): Promise<void> {
  await db.query(
    'INSERT INTO stock_orders (order_id, status, reject_reason, unavailable_skus) VALUES ($1, $2, $3, $4::text[])',
    [order.orderId, order.status, order.rejectReason, order.unavailableSkus],
  );
}

export async function lockProducts(db: Queryable, skus: readonly string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  // ORDER BY sku: every transaction locks products in the same order, so concurrent reservations cannot deadlock.
  // NO KEY UPDATE (the sku never changes) leaves other transactions' foreign-key checks on products unblocked.
  const { rows } = await db.query<{ sku: string; on_hand: number }>(
    'SELECT sku, on_hand FROM products WHERE sku = ANY($1::text[]) ORDER BY sku FOR NO KEY UPDATE',
    [[...new Set(skus)]],
  );
  return new Map(rows.map((r) => [r.sku, r.on_hand]));
}

export async function adjustOnHand(
  db: Queryable,
  deltas: readonly { sku: string; delta: number }[],
): Promise<void> {
  if (deltas.length === 0) return;
  const { rowCount } = await db.query(
    `UPDATE products p SET on_hand = p.on_hand + d.delta, updated_at = now()
       FROM unnest($1::text[], $2::int[]) AS d(sku, delta)
      WHERE p.sku = d.sku`,
    [deltas.map((d) => d.sku), deltas.map((d) => d.delta)],
  );
  if (rowCount !== deltas.length)
    throw new Error(`stock adjustment touched ${rowCount} of ${deltas.length} products`);
}

/**
 * A reservation: the order as RESERVED, its lines and the products' on_hand lowered, in one statement (one round
 * trip while the products' rows are locked, which every reservation of a popular sku waits for). The products must
 * be locked by the caller (lockProducts).
 */
export async function recordReservation(
  db: Queryable,
  orderId: string,
  lines: readonly { sku: string; quantity: number }[],
): Promise<void> {
  const perSku = new Map<string, number>();
  for (const l of lines) perSku.set(l.sku, (perSku.get(l.sku) ?? 0) + l.quantity);
  const { rows } = await db.query<{ adjusted: number }>(
    `WITH stock_order AS (
       INSERT INTO stock_orders (order_id, status, reject_reason, unavailable_skus)
       VALUES ($1, 'RESERVED', NULL, '{}') RETURNING order_id),
     held AS (
       INSERT INTO reservations (order_id, sku, quantity, status)
       SELECT stock_order.order_id, l.sku, l.quantity, 'RESERVED'
         FROM stock_order, unnest($2::text[], $3::int[]) AS l(sku, quantity)),
     adjusted AS (
       UPDATE products p SET on_hand = p.on_hand - d.quantity, updated_at = now()
         FROM unnest($4::text[], $5::int[]) AS d(sku, quantity)
        WHERE p.sku = d.sku RETURNING 1)
     SELECT (SELECT count(*) FROM adjusted)::int AS adjusted`,
    [
      orderId,
      lines.map((l) => l.sku),
      lines.map((l) => l.quantity),
      [...perSku.keys()],
      [...perSku.values()],
    ],
  );
  if (rows[0]?.adjusted !== perSku.size)
    throw new Error(`stock adjustment touched ${rows[0]?.adjusted} of ${perSku.size} products`);
}

/** Moves the order's lines from one of `from` to `to`, and the order to `orderStatus`, in one statement. */
export async function setOrderAndLinesStatus(
  db: Queryable,
  orderId: string,
  from: readonly LineStatus[],
  to: LineStatus,
  orderStatus: OrderStockStatus,
): Promise<number> {
  const { rows } = await db.query<{ lines: number }>(
    `WITH lines AS (
       UPDATE reservations SET status = $3, updated_at = now() WHERE order_id = $1 AND status = ANY($2::text[])
       RETURNING 1),
     stock_order AS (UPDATE stock_orders SET status = $4, updated_at = now() WHERE order_id = $1)
     SELECT (SELECT count(*) FROM lines)::int AS lines`,
    [orderId, from, to, orderStatus],
  );
  return rows[0]?.lines ?? 0;
}

export async function lockLines(db: Queryable, orderId: string): Promise<ReservationLine[]> {
  const { rows } = await db.query<{ sku: string; quantity: number; status: LineStatus }>(
    'SELECT sku, quantity, status FROM reservations WHERE order_id = $1 ORDER BY sku FOR UPDATE',
    [orderId],
  );
  return rows;
}

export async function seedProducts(db: Queryable, catalog: readonly CatalogProduct[]): Promise<number> {
  const { rowCount } = await db.query(
    `INSERT INTO products (sku, name, price_cents, currency, initial_stock, on_hand)
     SELECT c.sku, c.name, c.price_cents, c.currency, c.stock, c.stock
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[]) AS c(sku, name, price_cents, currency, stock)
     ON CONFLICT (sku) DO NOTHING`,
    [
      catalog.map((p) => p.sku),
      catalog.map((p) => p.name),
      catalog.map((p) => p.priceCents),
      catalog.map((p) => p.currency),
      catalog.map((p) => p.initialStock),
    ],
  );
  return rowCount ?? 0;
}
