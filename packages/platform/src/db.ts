import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import pg from 'pg';
import type { Logger } from './logger';
import { retryWithBackoff } from './retry';

export type Pool = pg.Pool;
export type Tx = pg.PoolClient;
/** Anything that can run a query: the pool itself or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

// int8 (bigint) columns hold money in minor units and counters; they fit in a JS number for this domain.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PoolLimits {
  /** PostgreSQL `statement_timeout` of every connection; 0: none. */
  statementTimeoutMs?: number;
  /** PostgreSQL `idle_in_transaction_session_timeout`; 0: none. */
  idleInTransactionTimeoutMs?: number;
  /** How long a caller waits for a free pool client before failing (default 5000). */
  checkoutTimeoutMs?: number;
}

export function createPool(
  connectionString: string,
  max: number,
  logger: Logger,
  limits: PoolLimits = {},
): Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: limits.checkoutTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    // Bounded transaction time (book 8.5): a slow statement or a transaction left open gives its connection back.
    ...(limits.statementTimeoutMs ? { statement_timeout: limits.statementTimeoutMs } : {}),
    ...(limits.idleInTransactionTimeoutMs
      ? { idle_in_transaction_session_timeout: limits.idleInTransactionTimeoutMs }
      : {}),
  });
  // A client whose connection dies emits 'error'; with no listener that is an uncaught exception and the process
  // exits (`read ECONNRESET`, `terminating connection due to unexpected postmaster exit`). The pool listens only
  // while a client is idle, so every client gets its own listener for the time it is checked out (the relay holds
  // one across a Kafka send, a consumer across its handler). The query in flight fails with the same error and the
  // caller handles it; release() then discards the broken client and the pool opens a new one.
  pool.on('connect', (client) => guardClient(client, logger));
  pool.on('error', (err) => logger.debug({ err: err.message }, 'idle PostgreSQL client failed'));
  return pool;
}

/** Keeps a connection's death from crashing the process (see createPool); for clients made outside a pool too. */
export function guardClient(client: pg.ClientBase, logger: Logger): void {
  client.on('error', (err: Error & { code?: string }) =>
    logger.warn({ err: err.message, code: err.code }, 'PostgreSQL connection lost'),
  );
}

export async function waitForDatabase(pool: Pool, timeoutMs: number, logger: Logger): Promise<void> {
  await retryWithBackoff(() => pool.query('SELECT 1'), { what: 'PostgreSQL', timeoutMs, logger });
}

/**
 * Starts a transaction on `client` without a span: BEGIN says nothing a trace reader needs (the statements and the
 * COMMIT that follow have theirs), and a span per transaction is a measurable share of the tracing cost per order
 * (docs/performance.md). The pg instrumentation makes spans only under a parent span, so none is given.
 */
export function begin(client: pg.ClientBase): Promise<unknown> {
  return context.with(trace.deleteSpan(context.active()), () => client.query('BEGIN'));
}

/** Runs `fn` in one transaction: commit when it resolves, roll back when it throws. */
export async function withTransaction<T>(pool: Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await begin(client);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Applies numbered SQL files (`001_init.sql`, `002_...sql`) from `dirs` in file-name order, each in its own transaction,
 * recording them in `schema_migrations`. An advisory lock keeps two replicas from migrating at once.
 */
async function migrationFiles(dirs: string[]): Promise<{ name: string; path: string }[]> {
  const files: { name: string; path: string }[] = [];
  for (const dir of dirs) {
    for (const f of await readdir(dir))
      if (/^\d+_[\w-]+\.sql$/.test(f)) files.push({ name: f, path: join(dir, f) });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * DATABASE_MIGRATIONS=check (a canary): applies nothing, and throws, naming them, when migrations this build ships
 * are not applied yet; the release that owns the schema (the stable one) applies them first.
 */
export async function checkMigrations(pool: Pool, dirs: string[], logger: Logger): Promise<void> {
  const files = await migrationFiles(dirs);
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  const done = new Set(
    exists.rows[0]?.t
      ? (await pool.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
          (r) => r.version,
        )
      : [],
  );
  const pending = files.map((f) => f.name).filter((n) => !done.has(n));
  if (pending.length > 0)
    throw new Error(
      `DATABASE_MIGRATIONS=check: ${pending.length} migration(s) not applied: ${pending.join(', ')}; the stable release (DATABASE_MIGRATIONS=apply) applies them first`,
    );
  logger.info({ migrations: files.length }, 'schema up to date (DATABASE_MIGRATIONS=check)');
}

export async function migrate(pool: Pool, dirs: string[], logger: Logger): Promise<string[]> {
  const files = await migrationFiles(dirs);
  const applied: string[] = [];
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(727274)');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const { name: file, path } of files) {
      if (done.has(file)) continue;
      const sql = await readFile(path, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
      logger.info({ migration: file }, 'migration applied');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(727274)').catch(() => undefined);
    client.release();
  }
  return applied;
}
