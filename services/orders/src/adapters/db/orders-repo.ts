import { Topics } from '@shop/contracts';
import type { Queryable } from '@shop/platform';
import type { Order, OrderLine, OrderStatus, RejectionReason } from '../../domain/order';
import type { PageCursor } from '../../domain/validation';
import type { CompensationStep, SagaStep } from '../../domain/saga';

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Channel fired (at commit) by every transaction that changes an order's status; payload = order id. */
export const ORDER_CHANGED_CHANNEL = 'order_changed';

interface OrderRow {
  id: string;
  customer_id: string;
  total_cents: number;
  currency: string;
  status: OrderStatus;
  rejection_reason: RejectionReason | null;
  created_at: Date;
  updated_at: Date;
  version: number;
  trace_id: string | null;
  lines: { sku: string; quantity: number; unit_price_cents: number }[] | null;
}

const ORDER_SELECT = `
  SELECT o.id, o.customer_id, o.total_cents, o.currency, o.status, o.rejection_reason, o.created_at, o.updated_at, o.version, o.trace_id,
         (SELECT json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity, 'unit_price_cents', l.unit_price_cents) ORDER BY l.line_no)
            FROM order_lines l WHERE l.order_id = o.id) AS lines
    FROM orders o`;

function toOrder(r: OrderRow): Order {
  return {
    id: r.id,
    customerId: r.customer_id,
    totalCents: Number(r.total_cents),
    currency: r.currency,
    status: r.status,
    rejectionReason: r.rejection_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: Number(r.version),
    traceId: r.trace_id,
    lines: (r.lines ?? []).map((l): OrderLine => ({
      sku: l.sku,
      quantity: l.quantity,
      unitPriceCents: Number(l.unit_price_cents),
    })),
  };
}

/**
 * The order, its lines and (with `saga`) its saga row, in one statement: data-modifying CTEs, the foreign keys
 * checked at the end of the statement.
 */
export async function insertOrder(
  tx: Queryable,
  o: Order,
  saga?: { step: SagaStep; deadline: Date },
): Promise<void> {
  await tx.query(
    `WITH inserted AS (
       INSERT INTO orders (id, customer_id, total_cents, currency, status, rejection_reason, created_at, updated_at, version, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id),
     lines AS (
       INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents)
       SELECT inserted.id, n, sku, quantity, price
         FROM inserted, unnest($11::text[], $12::int[], $13::bigint[]) WITH ORDINALITY AS t(sku, quantity, price, n))
     INSERT INTO sagas (order_id, step, step_started_at, deadline, updated_at)
     SELECT id, $14, $7, $15, $7 FROM inserted WHERE $14::text IS NOT NULL`,
    [
      o.id,
      o.customerId,
      o.totalCents,
      o.currency,
      o.status,
      o.rejectionReason,
      o.createdAt,
      o.updatedAt,
      o.version,
      o.traceId,
      o.lines.map((l) => l.sku),
      o.lines.map((l) => l.quantity),
      o.lines.map((l) => l.unitPriceCents),
      saga?.step ?? null,
      saga?.deadline ?? null,
    ],
  );
}

export async function getOrder(q: Queryable, id: string, lock = false): Promise<Order | undefined> {
  const { rows } = await q.query<OrderRow>(
    `${ORDER_SELECT} WHERE o.id = $1${lock ? ' FOR UPDATE OF o' : ''}`,
    [id],
  );
  return rows[0] ? toOrder(rows[0]) : undefined;
}

/**
 * Writes a status change and fires the change notification (delivered to listeners when the transaction commits),
 * in one statement.
 */
export async function updateOrderStatus(tx: Queryable, o: Order): Promise<void> {
  await tx.query(
    `WITH written AS (
       UPDATE orders SET status = $2, rejection_reason = $3, updated_at = $4, version = $5 WHERE id = $1 RETURNING id)
     SELECT pg_notify($6, written.id::text) FROM written`,
    [o.id, o.status, o.rejectionReason, o.updatedAt, o.version, ORDER_CHANGED_CHANNEL],
  );
}

export async function listOrders(
  q: Queryable,
  f: { customerId: string; status: OrderStatus | null; cursor: PageCursor | undefined; limit: number },
): Promise<Order[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.customerId !== '') {
    params.push(f.customerId);
    where.push(`o.customer_id = $${params.length}`);
  }
  if (f.status) {
    params.push(f.status);
    where.push(`o.status = $${params.length}`);
  }
  if (f.cursor) {
    params.push(f.cursor.createdAt, f.cursor.id);
    where.push(`(o.created_at, o.id) < ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(f.limit);
  const { rows } = await q.query<OrderRow>(
    `${ORDER_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY o.created_at DESC, o.id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(toOrder);
}

export async function findIdempotencyKey(
  q: Queryable,
  customerId: string,
  key: string,
): Promise<{ requestHash: string; orderId: string } | undefined> {
  const { rows } = await q.query<{ request_hash: string; order_id: string }>(
    'SELECT request_hash, order_id FROM idempotency_keys WHERE customer_id = $1 AND key = $2',
    [customerId, key],
  );
  return rows[0] ? { requestHash: rows[0].request_hash, orderId: rows[0].order_id } : undefined;
}

/** False when another request took the key first (the caller rolls back and answers from that request). */
export async function claimIdempotencyKey(
  tx: Queryable,
  customerId: string,
  key: string,
  hash: string,
  orderId: string,
): Promise<boolean> {
  const res = await tx.query(
    'INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
    [customerId, key, hash, orderId],
  );
  return res.rowCount === 1;
}

export interface SagaRow {
  orderId: string;
  step: SagaStep;
  pending: CompensationStep[];
  stepStartedAt: Date;
  deadline: Date | null;
  attempts: number;
  parked: boolean;
  countedOutcome: string | null;
}

interface RawSaga {
  order_id: string;
  step: SagaStep;
  pending: CompensationStep[];
  step_started_at: Date;
  deadline: Date | null;
  attempts: number;
  parked: boolean;
  counted_outcome: string | null;
}

const toSaga = (r: RawSaga): SagaRow => ({
  orderId: r.order_id,
  step: r.step,
  pending: r.pending,
  stepStartedAt: r.step_started_at,
  deadline: r.deadline,
  attempts: r.attempts,
  parked: r.parked,
  countedOutcome: r.counted_outcome,
});

/** Locks the saga row. Lock order everywhere: saga row first, then the order row (no deadlocks). */
export async function lockSaga(tx: Queryable, orderId: string): Promise<SagaRow | undefined> {
  const { rows } = await tx.query<RawSaga>('SELECT * FROM sagas WHERE order_id = $1 FOR UPDATE', [orderId]);
  return rows[0] ? toSaga(rows[0]) : undefined;
}

/**
 * Locks the saga row, then the order row, in one statement (one round trip instead of two), the lock order of
 * lockSaga then getOrder: the order's CTE needs the saga's id, so the saga row is read and locked first.
 * Undefined when there is no saga for this order.
 */
export async function lockSagaAndOrder(
  tx: Queryable,
  orderId: string,
): Promise<{ saga: SagaRow; order: Order } | undefined> {
  const { rows } = await tx.query<RawSaga & OrderRow>(
    `WITH s AS MATERIALIZED (
       SELECT order_id, step, pending, step_started_at, deadline, attempts, parked, counted_outcome
         FROM sagas WHERE order_id = $1 FOR UPDATE),
     locked AS MATERIALIZED (${ORDER_SELECT} WHERE o.id = (SELECT order_id FROM s) FOR UPDATE OF o)
     SELECT s.*, locked.* FROM s JOIN locked ON locked.id = s.order_id`,
    [orderId],
  );
  const r = rows[0];
  return r ? { saga: toSaga(r), order: toOrder(r) } : undefined;
}

/** Topics of the saga's commands: a saga whose command is still in the outbox is not waiting for a reply yet. */
export const COMMAND_TOPICS: readonly string[] = [Topics.inventoryCommands, Topics.paymentsCommands];

// A saga is overdue only once its command has left: while the command still sits in the outbox (the broker is
// down) nobody could have answered, and the relay restarts the deadline when it publishes (restartDeadlines).
const SENT =
  'NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = sagas.order_id::text AND o.topic = ANY($1::text[]))';
const OVERDUE = `deadline IS NOT NULL AND NOT parked AND deadline < now() AND ${SENT}`;

/** The next saga past its deadline that no other replica is working on and is not backed off after a failure, locked. */
export async function lockNextOverdueSaga(tx: Queryable): Promise<SagaRow | undefined> {
  const { rows } = await tx.query<RawSaga>(
    `SELECT * FROM sagas WHERE ${OVERDUE} AND (sweep_retry_at IS NULL OR sweep_retry_at <= now())
      ORDER BY deadline LIMIT 1 FOR UPDATE SKIP LOCKED`,
    [COMMAND_TOPICS],
  );
  return rows[0] ? toSaga(rows[0]) : undefined;
}

/**
 * Called by the outbox relay once the broker acknowledged commands of these orders: their sagas' deadlines run from
 * now (never earlier than they already were), so a step's budget is spent waiting for a reply, not for the broker.
 */
export async function restartDeadlines(
  tx: Queryable,
  orderIds: string[],
  stepTimeoutMs: number,
): Promise<void> {
  // Keys are order ids; anything else has no saga. As uuid[] the primary key's index finds the rows (a cast of the
  // column to text would scan the whole table, on every relay round).
  const ids = orderIds.filter((id) => UUID_TEXT.test(id));
  if (ids.length === 0) return;
  await tx.query(
    `UPDATE sagas SET deadline = greatest(deadline, now() + make_interval(secs => $2::float8 / 1000)), updated_at = now()
      WHERE order_id = ANY($1::uuid[]) AND deadline IS NOT NULL`,
    [ids, stepTimeoutMs],
  );
}

/** Backs one saga off after its sweep failed (exponential, capped), so that the sweeper goes on with the others. */
export async function recordSweepFailure(
  q: Queryable,
  orderId: string,
  error: string,
  baseMs: number,
): Promise<number> {
  const { rows } = await q.query<{ sweep_failures: number }>(
    `UPDATE sagas SET sweep_failures = sweep_failures + 1, sweep_error = left($2, 1000),
            sweep_retry_at = now() + make_interval(secs => least($3::float8 * 2 ^ least(sweep_failures, 10), 300000) / 1000)
      WHERE order_id = $1 RETURNING sweep_failures`,
    [orderId, error, baseMs],
  );
  return rows[0]?.sweep_failures ?? 0;
}

/**
 * Writes the saga's state; when its step or its pending compensations change, fires the order's change notification
 * too (WatchOrder pushes each step), in the same statement: the CTE `before` reads the row as it was.
 */
export async function updateSaga(tx: Queryable, s: SagaRow): Promise<void> {
  await tx.query(
    `WITH before AS (SELECT step, pending FROM sagas WHERE order_id = $1),
          written AS (
            UPDATE sagas SET step = $2, pending = $3::text[], step_started_at = $4, deadline = $5, attempts = $6,
                   parked = $7, parked_at = CASE WHEN $7 THEN coalesce(parked_at, now()) END, counted_outcome = $8,
                   updated_at = now(), sweep_failures = 0, sweep_retry_at = NULL, sweep_error = NULL
             WHERE order_id = $1 RETURNING order_id)
     SELECT pg_notify($9, written.order_id::text)
       FROM written, before
      WHERE before.step IS DISTINCT FROM $2 OR before.pending IS DISTINCT FROM $3::text[]`,
    [
      s.orderId,
      s.step,
      s.pending,
      s.stepStartedAt,
      s.deadline,
      s.attempts,
      s.parked,
      s.countedOutcome,
      ORDER_CHANGED_CHANNEL,
    ],
  );
}

/** Where an order's saga is, for WatchOrder (undefined: no saga row). */
export async function getSagaProgress(
  q: Queryable,
  orderId: string,
): Promise<{ step: SagaStep; pending: CompensationStep[] } | undefined> {
  const { rows } = await q.query<{ step: SagaStep; pending: CompensationStep[] }>(
    'SELECT step, pending FROM sagas WHERE order_id = $1',
    [orderId],
  );
  return rows[0] ? { step: rows[0].step, pending: rows[0].pending } : undefined;
}

/** The DB-backed saga gauges (every replica reports the same values; use max() across replicas). */
export async function sagaGauges(
  q: Queryable,
): Promise<{ inFlight: number; overdue: number; parked: number }> {
  const { rows } = await q.query<{ in_flight: number; overdue: number; parked: number }>(
    `SELECT count(*) FILTER (WHERE step <> 'DONE')::int AS in_flight,
            count(*) FILTER (WHERE step <> 'DONE' AND deadline < now() AND ${SENT})::int AS overdue,
            count(*) FILTER (WHERE parked)::int AS parked
       FROM sagas WHERE step <> 'DONE' OR parked`,
    [COMMAND_TOPICS],
  );
  const r = rows[0];
  return { inFlight: r?.in_flight ?? 0, overdue: r?.overdue ?? 0, parked: r?.parked ?? 0 };
}
