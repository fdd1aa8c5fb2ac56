-- Shared messaging tables, applied to every service database before the service's own migrations.
-- outbox: messages written in the same transaction as the state change; the relay publishes and deletes them.
CREATE TABLE IF NOT EXISTS outbox (
  id          bigserial PRIMARY KEY,
  topic       text        NOT NULL,
  key         text        NOT NULL,
  value       bytea       NOT NULL,
  headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- processed_messages: the idempotent-consumer record; a message id seen twice has its effect once.
CREATE TABLE IF NOT EXISTS processed_messages (
  message_id   text PRIMARY KEY,
  processed_at timestamptz NOT NULL DEFAULT now()
);
