-- Payments schema. Invariant (tested): for every account, credit_limit_cents + sum(ledger.amount_cents) = available_cents.

CREATE TABLE IF NOT EXISTS accounts (
  customer_id        text        PRIMARY KEY CHECK (customer_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  credit_limit_cents bigint      NOT NULL CHECK (credit_limit_cents >= 0),
  available_cents    bigint      NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  -- The database refuses any overdraft even if application code were wrong.
  CONSTRAINT accounts_available_within_limit CHECK (available_cents >= 0 AND available_cents <= credit_limit_cents)
);

CREATE TABLE IF NOT EXISTS payments (
  id             uuid        PRIMARY KEY,
  order_id       uuid        NOT NULL UNIQUE,
  customer_id    text        NOT NULL,
  amount_cents   bigint      NOT NULL CHECK (amount_cents > 0),
  currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status         text        NOT NULL CHECK (status IN ('AUTHORIZED', 'DECLINED', 'REFUNDED')),
  decline_reason text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payments_reason_iff_declined CHECK ((status = 'DECLINED') = (decline_reason IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS payments_customer_idx ON payments (customer_id, created_at);

CREATE TABLE IF NOT EXISTS ledger (
  id           bigserial   PRIMARY KEY,
  customer_id  text        NOT NULL REFERENCES accounts (customer_id),
  order_id     uuid        NOT NULL,
  payment_id   uuid        NOT NULL REFERENCES payments (id),
  kind         text        NOT NULL CHECK (kind IN ('AUTHORIZATION', 'REFUND')),
  -- Signed: an authorization takes credit (negative), a refund gives it back (positive).
  amount_cents bigint      NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_sign_by_kind CHECK ((kind = 'AUTHORIZATION' AND amount_cents < 0) OR (kind = 'REFUND' AND amount_cents > 0)),
  -- At most one authorization and one refund per payment: no double charge, no double refund.
  CONSTRAINT ledger_one_kind_per_payment UNIQUE (payment_id, kind)
);
CREATE INDEX IF NOT EXISTS ledger_customer_idx ON ledger (customer_id);

-- Orders compensated (RefundPayment) before any AuthorizePayment arrived: a late authorization for such an order is
-- declined instead of charging an order the saga has already given up on.
CREATE TABLE IF NOT EXISTS voided_orders (
  order_id   uuid        PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
