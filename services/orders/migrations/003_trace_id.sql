-- Issue 11 (the console links every order to its trace): the trace of the request that placed the order (W3C trace
-- id, 32 lowercase hex digits), when that request was traced; NULL for older orders and untraced requests.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');
