import type { Queryable } from '@shop/platform';

/** A saga an operator should look at: parked after its last re-send, or whose deadline handling keeps failing. */
export interface ParkedSaga {
  orderId: string;
  customerId: string;
  orderStatus: string;
  step: string;
  pending: string[];
  sends: number;
  parked: boolean;
  parkedAt: string | null;
  sweepFailures: number;
  sweepError: string | null;
}

interface Row {
  order_id: string;
  customer_id: string;
  status: string;
  step: string;
  pending: string[];
  attempts: number;
  parked: boolean;
  parked_at: Date | null;
  sweep_failures: number;
  sweep_error: string | null;
}

/** What `npm run sagas -- list` lists (load/src/sagas.ts), oldest first, at most `limit`. */
export async function listParkedSagas(q: Queryable, limit = 100): Promise<ParkedSaga[]> {
  const { rows } = await q.query<Row>(
    `SELECT s.order_id, o.customer_id, o.status, s.step, s.pending, s.attempts, s.parked, s.parked_at,
            s.sweep_failures, s.sweep_error
       FROM sagas s JOIN orders o ON o.id = s.order_id
      WHERE s.parked OR s.sweep_failures > 0
      ORDER BY coalesce(s.parked_at, s.updated_at)
      LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    orderId: r.order_id,
    customerId: r.customer_id,
    orderStatus: r.status,
    step: r.step,
    pending: r.pending,
    sends: r.attempts + 1,
    parked: r.parked,
    parkedAt: r.parked_at ? r.parked_at.toISOString() : null,
    sweepFailures: r.sweep_failures,
    sweepError: r.sweep_error,
  }));
}
