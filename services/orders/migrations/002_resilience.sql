-- Issue 12 (hardening).
-- The sweeper skips a saga whose command still waits in the outbox (its deadline starts when the relay has published
-- it), and the relay restarts the deadline of the sagas it published for: both look outbox rows up by key (order id).
CREATE INDEX IF NOT EXISTS outbox_key_idx ON outbox (key);

-- A saga whose sweep fails (a bug, a corrupt row) is backed off on its own instead of blocking every later deadline:
-- failures so far, when it is tried again, and the last error, for the operator (`npm run sagas -- list`).
ALTER TABLE sagas
  ADD COLUMN sweep_failures int NOT NULL DEFAULT 0,
  ADD COLUMN sweep_retry_at timestamptz,
  ADD COLUMN sweep_error    text;
