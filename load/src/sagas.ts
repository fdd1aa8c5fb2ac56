// `npm run sagas -- list|resend <orderId>|unpark <orderId>`: the operator's handle on parked sagas
// (docs/runbooks/parked-sagas.md). Talks to the orders database directly, so it works while orders is degraded; the
// running orders sweeper does the sending, so every command goes through the saga's own outbox and idempotency.
import pg from 'pg';

export const USAGE = `usage: npm run sagas -- <command>

  list                 parked sagas, and sagas whose deadline handling keeps failing (oldest first)
  resend <orderId>     un-park the saga and re-send its unconfirmed commands now (fresh retry budget:
                       COMPENSATION_MAX_ATTEMPTS sends before it is parked again)
  unpark <orderId>     un-park the saga with a fresh retry budget; the first re-send is one step timeout
                       from now (SAGA_STEP_TIMEOUT_MS, default 30000), then the normal retries go on

The orders database: SHOP_ORDERS_DATABASE_URL, else the "orders" database of SHOP_ADMIN_DATABASE_URL (set by
npm run for the local platform). Exit codes: 0 done (also --help), 1 failure (database unreachable),
2 bad usage, 3 the saga does not exist or is not in a state the command applies to.`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class UsageError extends Error {
  readonly exitCode = 2;
}
export class StateError extends Error {
  readonly exitCode = 3;
}

export function ordersDatabaseUrl(env: NodeJS.ProcessEnv): string {
  if (env.SHOP_ORDERS_DATABASE_URL) return env.SHOP_ORDERS_DATABASE_URL;
  if (!env.SHOP_ADMIN_DATABASE_URL)
    throw new UsageError(
      'set SHOP_ORDERS_DATABASE_URL (or SHOP_ADMIN_DATABASE_URL) to reach the orders database',
    );
  const url = new URL(env.SHOP_ADMIN_DATABASE_URL);
  url.pathname = '/orders';
  return url.toString();
}

export function parseCommand(
  argv: string[],
): { command: 'list' } | { command: 'help' } | { command: 'resend' | 'unpark'; orderId: string } {
  const [command, orderId, ...rest] = argv;
  if (command === 'list' && orderId === undefined) return { command };
  if ((command === '--help' || command === '-h' || command === 'help') && orderId === undefined)
    return { command: 'help' };
  if ((command === 'resend' || command === 'unpark') && rest.length === 0) {
    if (orderId === undefined) throw new UsageError(`${command} needs an order id\n\n${USAGE}`);
    if (!UUID.test(orderId)) throw new UsageError(`"${orderId}" is not an order id (a UUID)`);
    return { command, orderId: orderId.toLowerCase() };
  }
  throw new UsageError(
    command === undefined
      ? `missing command\n\n${USAGE}`
      : `unknown arguments: ${argv.join(' ')}\n\n${USAGE}`,
  );
}

interface Row {
  order_id: string;
  status: string;
  step: string;
  pending: string[];
  attempts: number;
  parked: boolean;
  parked_at: Date | null;
  sweep_failures: number;
  sweep_error: string | null;
}

/** Runs one command; returns the lines to print. Throws UsageError / StateError / database errors. */
export async function runSagas(db: pg.ClientBase, argv: string[], stepTimeoutMs = 30_000): Promise<string[]> {
  const cmd = parseCommand(argv);
  if (cmd.command === 'help') return [USAGE];
  if (cmd.command === 'list') {
    const { rows } = await db.query<Row>(
      `SELECT s.order_id, o.status, s.step, s.pending, s.attempts, s.parked, s.parked_at, s.sweep_failures, s.sweep_error
         FROM sagas s JOIN orders o ON o.id = s.order_id
        WHERE s.parked OR s.sweep_failures > 0 ORDER BY coalesce(s.parked_at, s.updated_at)`,
    );
    if (rows.length === 0) return ['no parked or failing sagas'];
    return [
      `${rows.length} saga(s):`,
      ...rows.map(
        (r) =>
          `${r.order_id}  order ${r.status}  step ${r.step}  pending ${r.pending.join(',') || '-'}  sends ${r.attempts + 1}` +
          (r.parked ? `  PARKED since ${r.parked_at?.toISOString() ?? '?'}` : '') +
          (r.sweep_failures > 0 ? `  sweep failed ${r.sweep_failures}x: ${r.sweep_error ?? ''}` : ''),
      ),
    ];
  }
  // Same lock order as the service: the saga row first.
  await db.query('BEGIN');
  try {
    const { rows } = await db.query<Row>('SELECT * FROM sagas WHERE order_id = $1 FOR UPDATE', [cmd.orderId]);
    const saga = rows[0];
    if (!saga) throw new StateError(`no saga for order ${cmd.orderId}`);
    if (saga.step === 'DONE')
      throw new StateError(`the saga of order ${cmd.orderId} is DONE: nothing to send`);
    // A forward step still waiting (RESERVE_STOCK / AUTHORIZE_PAYMENT of a PENDING order) is never parked; making its
    // deadline pass would reject the order with TIMEOUT, which is not what an operator asking to re-send means.
    if (!saga.parked && saga.step !== 'COMPENSATING' && saga.step !== 'COMMIT_STOCK')
      throw new StateError(
        `the saga of order ${cmd.orderId} is at ${saga.step} and not parked: it is still waiting for its reply`,
      );
    // attempts counts the re-sends after a first send (sends = attempts + 1; the sweeper parks once attempts + 1
    // reaches COMPENSATION_MAX_ATTEMPTS and adds 1 per re-send). A fresh budget starts before its first send, which
    // the sweeper makes: -1, so that it gets COMPENSATION_MAX_ATTEMPTS sends as documented (0 gave one fewer, and
    // none at all with COMPENSATION_MAX_ATTEMPTS=1: the saga was parked again without a send).
    await db.query(
      `UPDATE sagas SET parked = false, parked_at = NULL, attempts = -1, sweep_failures = 0, sweep_retry_at = NULL,
              sweep_error = NULL, updated_at = now(),
              deadline = CASE WHEN $2 THEN now() ELSE now() + make_interval(secs => $3::float8 / 1000) END
        WHERE order_id = $1`,
      [cmd.orderId, cmd.command === 'resend', stepTimeoutMs],
    );
    await db.query('COMMIT');
    return cmd.command === 'resend'
      ? [
          `saga of order ${cmd.orderId} un-parked; orders re-sends ${saga.step === 'COMPENSATING' ? saga.pending.join(', ') : saga.step} on its next sweep`,
        ]
      : [`saga of order ${cmd.orderId} un-parked with a fresh retry budget`];
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function main(): Promise<number> {
  let db: pg.Client | undefined;
  try {
    // Usage errors before any connection.
    if (parseCommand(process.argv.slice(2)).command === 'help') {
      console.log(USAGE);
      return 0;
    }
    const stepTimeoutMs = Number(process.env.SAGA_STEP_TIMEOUT_MS || 30_000);
    if (!Number.isInteger(stepTimeoutMs) || stepTimeoutMs <= 0)
      throw new UsageError(
        `SAGA_STEP_TIMEOUT_MS must be a positive integer (milliseconds), got "${process.env.SAGA_STEP_TIMEOUT_MS}"`,
      );
    db = new pg.Client({ connectionString: ordersDatabaseUrl(process.env), connectionTimeoutMillis: 5000 });
    db.on('error', () => undefined);
    await db.connect().catch((err: unknown) => {
      throw new Error(`cannot reach the orders database: ${(err as Error).message}`);
    });
    for (const line of await runSagas(db, process.argv.slice(2), stepTimeoutMs)) console.log(line);
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return (err as { exitCode?: number }).exitCode ?? 1;
  } finally {
    await db?.end().catch(() => undefined);
  }
}

if (require.main === module) void main().then((code) => process.exit(code));
