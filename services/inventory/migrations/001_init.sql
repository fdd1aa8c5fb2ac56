-- Inventory: products and per-order stock reservations.
-- Invariant per product (checked by `npm run check:consistency` through ListStockLevels):
--   on_hand + sum(RESERVED quantity) + sum(COMMITTED quantity) = initial_stock
CREATE TABLE products (
  sku            text        PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
  name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  price_cents    bigint      NOT NULL CHECK (price_cents >= 0),
  currency       char(3)     NOT NULL DEFAULT 'EUR',
  initial_stock  integer     NOT NULL CHECK (initial_stock >= 0),
  on_hand        integer     NOT NULL CHECK (on_hand >= 0),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (on_hand <= initial_stock)
);

-- One row per order that inventory has heard of: the order-level idempotency record. A second ReserveStock for the
-- same order (even with a new message id) answers from this row and never reserves twice.
--   RESERVED  every line is reserved            REJECTED  nothing was reserved (unavailable_skus says why)
--   COMMITTED the order was approved            RELEASED  what was held went back to on_hand (or nothing was held)
CREATE TABLE stock_orders (
  order_id          uuid        PRIMARY KEY,
  status            text        NOT NULL CHECK (status IN ('RESERVED', 'REJECTED', 'COMMITTED', 'RELEASED')),
  reject_reason     text,
  unavailable_skus  text[]      NOT NULL DEFAULT '{}',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
  order_id    uuid        NOT NULL REFERENCES stock_orders (order_id),
  sku         text        NOT NULL REFERENCES products (sku),
  quantity    integer     NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  status      text        NOT NULL CHECK (status IN ('RESERVED', 'RELEASED', 'COMMITTED')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, sku)
);

-- Stock levels sum the held quantities per product.
CREATE INDEX reservations_held_by_sku ON reservations (sku) WHERE status IN ('RESERVED', 'COMMITTED');
