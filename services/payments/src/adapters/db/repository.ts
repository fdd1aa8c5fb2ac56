import type { Queryable } from '@shop/platform';
import type { Account, Payment, PaymentStatus } from '../../domain/payment';

interface PaymentRow {
  id: string;
  order_id: string;
  customer_id: string;
  amount_cents: number;
  currency: string;
  status: PaymentStatus;
  decline_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

interface AccountRow {
  customer_id: string;
  credit_limit_cents: number;
  available_cents: number;
}

const PAYMENT_COLUMNS =
  'id, order_id, customer_id, amount_cents, currency, status, decline_reason, created_at, updated_at';

const toPayment = (r: PaymentRow): Payment => ({
  id: r.id,
  orderId: r.order_id,
  customerId: r.customer_id,
  amountCents: r.amount_cents,
  currency: r.currency,
  status: r.status,
  declineReason: r.decline_reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toAccount = (r: AccountRow): Account => ({
  customerId: r.customer_id,
  creditLimitCents: r.credit_limit_cents,
  availableCents: r.available_cents,
});

/**
 * Creates the account on first sight (with the configured limit) and locks it for the rest of the transaction, so
 * that concurrent authorizations of one customer are serialised and can never overdraw it.
 */
export async function lockOrCreateAccount(
  tx: Queryable,
  customerId: string,
  creditLimitCents: number,
): Promise<Account> {
  // A known customer (every call but the first): one statement, the lock.
  const known = await lockAccount(tx, customerId);
  if (known) return known;
  await tx.query(
    `INSERT INTO accounts (customer_id, credit_limit_cents, available_cents) VALUES ($1, $2, $2)
     ON CONFLICT (customer_id) DO NOTHING`,
    [customerId, creditLimitCents],
  );
  const { rows } = await tx.query<AccountRow>(
    'SELECT customer_id, credit_limit_cents, available_cents FROM accounts WHERE customer_id = $1 FOR UPDATE',
    [customerId],
  );
  const row = rows[0];
  if (!row) throw new Error('account vanished after insert');
  return toAccount(row);
}

export async function lockAccount(tx: Queryable, customerId: string): Promise<Account | undefined> {
  const { rows } = await tx.query<AccountRow>(
    'SELECT customer_id, credit_limit_cents, available_cents FROM accounts WHERE customer_id = $1 FOR UPDATE',
    [customerId],
  );
  return rows[0] ? toAccount(rows[0]) : undefined;
}

export async function findAccount(db: Queryable, customerId: string): Promise<Account | undefined> {
  const { rows } = await db.query<AccountRow>(
    'SELECT customer_id, credit_limit_cents, available_cents FROM accounts WHERE customer_id = $1',
    [customerId],
  );
  return rows[0] ? toAccount(rows[0]) : undefined;
}

export async function setAvailable(tx: Queryable, customerId: string, availableCents: number): Promise<void> {
  await tx.query('UPDATE accounts SET available_cents = $2, updated_at = now() WHERE customer_id = $1', [
    customerId,
    availableCents,
  ]);
}

export async function findPaymentByOrder(
  db: Queryable,
  orderId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Payment | undefined> {
  const { rows } = await db.query<PaymentRow>(
    `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE order_id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [orderId],
  );
  return rows[0] ? toPayment(rows[0]) : undefined;
}

export async function insertPayment(
  tx: Queryable,
  p: Omit<Payment, 'createdAt' | 'updatedAt'>,
): Promise<Payment> {
  const { rows } = await tx.query<PaymentRow>(
    `INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, status, decline_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${PAYMENT_COLUMNS}`,
    [p.id, p.orderId, p.customerId, p.amountCents, p.currency, p.status, p.declineReason],
  );
  return toPayment(rows[0] as PaymentRow);
}

/** The payment of an order, if any, and whether the order was voided, in one statement. */
export async function findPaymentAndVoided(
  db: Queryable,
  orderId: string,
): Promise<{ payment: Payment | undefined; voided: boolean }> {
  const { rows } = await db.query<Partial<PaymentRow> & { voided: boolean }>(
    `SELECT v.voided, ${PAYMENT_COLUMNS.split(', ')
      .map((c) => `p.${c}`)
      .join(', ')}
       FROM (SELECT EXISTS (SELECT 1 FROM voided_orders WHERE order_id = $1) AS voided) AS v
       LEFT JOIN payments p ON p.order_id = $1`,
    [orderId],
  );
  const r = rows[0];
  return {
    payment: r?.id ? toPayment(r as PaymentRow) : undefined,
    voided: r?.voided ?? false,
  };
}

/**
 * An authorization: the payment, its ledger entry and the account's new available credit, in one statement (the
 * ledger's foreign key to the payment is checked at its end). The account row must be locked by the caller.
 */
export async function recordAuthorization(
  tx: Queryable,
  p: Omit<Payment, 'createdAt' | 'updatedAt' | 'status' | 'declineReason'>,
  ledgerAmountCents: number,
  availableAfterCents: number,
): Promise<void> {
  const { rows } = await tx.query<{ accounts: number }>(
    `WITH payment AS (
       INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, status, decline_reason)
       VALUES ($1, $2, $3, $4, $5, 'AUTHORIZED', NULL) RETURNING id),
     entry AS (
       INSERT INTO ledger (customer_id, order_id, payment_id, kind, amount_cents)
       SELECT $3, $2, payment.id, 'AUTHORIZATION', $6 FROM payment),
     account AS (
       UPDATE accounts SET available_cents = $7, updated_at = now() WHERE customer_id = $3 RETURNING 1)
     SELECT (SELECT count(*) FROM account)::int AS accounts`,
    [p.id, p.orderId, p.customerId, p.amountCents, p.currency, ledgerAmountCents, availableAfterCents],
  );
  if (rows[0]?.accounts !== 1) throw new Error(`authorization of ${p.orderId}: no account ${p.customerId}`);
}

export async function updatePaymentStatus(tx: Queryable, id: string, status: PaymentStatus): Promise<void> {
  await tx.query('UPDATE payments SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

export async function appendLedger(
  tx: Queryable,
  entry: {
    customerId: string;
    orderId: string;
    paymentId: string;
    kind: 'AUTHORIZATION' | 'REFUND';
    amountCents: number;
  },
): Promise<void> {
  await tx.query(
    'INSERT INTO ledger (customer_id, order_id, payment_id, kind, amount_cents) VALUES ($1, $2, $3, $4, $5)',
    [entry.customerId, entry.orderId, entry.paymentId, entry.kind, entry.amountCents],
  );
}

/** Records that an order was compensated before it was ever charged. */
export async function voidOrder(tx: Queryable, orderId: string): Promise<void> {
  await tx.query('INSERT INTO voided_orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING', [orderId]);
}

/** At most `limit` payments, oldest first; filters combine with AND. */
export async function listPayments(
  db: Queryable,
  filter: { orderId?: string; customerId?: string },
  limit: number,
): Promise<Payment[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filter.orderId) {
    values.push(filter.orderId);
    where.push(`order_id = $${values.length}`);
  }
  if (filter.customerId) {
    values.push(filter.customerId);
    where.push(`customer_id = $${values.length}`);
  }
  values.push(limit);
  const { rows } = await db.query<PaymentRow>(
    `SELECT ${PAYMENT_COLUMNS} FROM payments ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY created_at, id LIMIT $${values.length}`,
    values,
  );
  return rows.map(toPayment);
}
