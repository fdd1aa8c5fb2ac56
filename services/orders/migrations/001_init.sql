-- The Order aggregate, its lines, idempotency keys and the saga state (issue 3). Money in minor units (bigint).
CREATE TABLE orders (
  id               uuid PRIMARY KEY,
  customer_id      text        NOT NULL CHECK (customer_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  total_cents      bigint      NOT NULL CHECK (total_cents >= 0),
  currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status           text        NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
  rejection_reason text        CHECK (rejection_reason IN ('OUT_OF_STOCK', 'PAYMENT_DECLINED', 'TIMEOUT')),
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  version          bigint      NOT NULL DEFAULT 1,
  CHECK ((status = 'REJECTED') = (rejection_reason IS NOT NULL))
);
-- ListOrders: newest first, keyset pagination on (created_at, id), with or without a customer filter.
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);

CREATE TABLE order_lines (
  order_id         uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no          int     NOT NULL,
  sku              text    NOT NULL,
  quantity         int     NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (order_id, line_no),
  UNIQUE (order_id, sku)
);

-- PlaceOrder idempotency, scoped to the customer: the hash of the normalized request tells a replay from a misuse.
CREATE TABLE idempotency_keys (
  customer_id  text        NOT NULL,
  key          text        NOT NULL,
  request_hash text        NOT NULL,
  order_id     uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, key)
);

-- One saga per order. step: a forward step, COMPENSATING (pending holds the unconfirmed compensations) or DONE.
CREATE TABLE sagas (
  order_id          uuid        PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
  step              text        NOT NULL CHECK (step IN ('RESERVE_STOCK', 'AUTHORIZE_PAYMENT', 'COMMIT_STOCK', 'COMPENSATING', 'DONE')),
  pending           text[]      NOT NULL DEFAULT '{}',
  step_started_at   timestamptz NOT NULL,
  deadline          timestamptz,
  attempts          int         NOT NULL DEFAULT 0,
  parked            boolean     NOT NULL DEFAULT false,
  parked_at         timestamptz,
  -- The outcome last counted in saga_completed_total, so a saga re-opened by a late reply is not counted twice.
  counted_outcome   text,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((step = 'DONE') = (deadline IS NULL)),
  CHECK ((step = 'COMPENSATING') = (cardinality(pending) > 0))
);
-- The sweeper's scan: sagas in flight by deadline.
CREATE INDEX sagas_deadline_idx ON sagas (deadline) WHERE deadline IS NOT NULL AND NOT parked;
CREATE INDEX sagas_parked_idx ON sagas (order_id) WHERE parked;
