// Hardening (issue 12): PostgreSQL itself stopped and started again while orders are placed and sagas run. The
// shared test PostgreSQL stays untouched: this file starts a PostgreSQL and a Kafka broker of its own (ports
// 55650-55660 and 59310-59320, Kafka uses port + 1 too), so it races no other test.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ALL_TOPICS, ordersV1, paymentsV1 } from '@shop/contracts';
import { startInfra, type Infra } from '@shop/infra';
import { eventually, uniqueCustomer } from '@shop/testkit';
import pg from 'pg';
import { Stack } from './stack';

const S = ordersV1.OrderStatus;
const P = paymentsV1.PaymentStatus;
const SERVICES = ['inventory', 'payments', 'orders'] as const;

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** The first port of [from, to] that is free (with `pair`, port + 1 as well). */
async function freePortIn(from: number, to: number, pair = false): Promise<number> {
  for (let p = from; p <= to; p++) {
    if ((await canBind(p)) && (!pair || (await canBind(p + 1)))) return p;
  }
  throw new Error(`no free port in ${from}-${to}`);
}

async function queryOne<T>(url: string, sql: string): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql)).rows[0] as T;
  } finally {
    await c.end().catch(() => undefined);
  }
}

test('PostgreSQL restarted under traffic (fast shutdown, then kill -9 of the postmaster): every service stays up, no order lost, stock and payments consistent', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'orders-pg-restart-'));
  let own: Infra | undefined;
  let stack: Stack | undefined;
  let monitoring = true;
  let placing = true;
  let monitor: Promise<void> = Promise.resolve();
  let placer: Promise<void> = Promise.resolve();
  try {
    own = await startInfra({
      stateDir,
      services: ['orders', 'inventory', 'payments'],
      postgresPort: await freePortIn(55650, 55660),
      kafkaPort: await freePortIn(59310, 59319, true),
      topics: [...ALL_TOPICS],
      env: { ...process.env, SHOP_POSTGRES_URL: '', KAFKA_BROKERS: '' },
    });
    const infra = own;
    stack = new Stack({
      databaseUrls: infra.databaseUrls,
      adminDatabaseUrl: infra.adminDatabaseUrl,
      kafkaBrokers: infra.kafkaBrokers,
    });
    const s = stack;
    await s.start({ SAGA_STEP_TIMEOUT_MS: '20000', SAGA_SWEEP_INTERVAL_MS: '200' });
    const instances = { inventory: s.inventory, payments: s.payments, orders: s.orders };
    const httpPorts = SERVICES.map((name) => [name, instances[name]?.ports.http ?? 0] as const);

    // Liveness of every backend all along: a process that died (or an event loop stuck for seconds) shows here.
    const livezFailures: string[] = [];
    let livezChecks = 0;
    monitor = (async () => {
      while (monitoring) {
        for (const [name, port] of httpPorts) {
          try {
            const r = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(3000) });
            if (r.status !== 200) livezFailures.push(`${name} /livez ${r.status}`);
          } catch (err) {
            livezFailures.push(`${name} /livez: ${(err as Error).message}`);
          }
          livezChecks += 1;
        }
        await sleep(250);
      }
    })();

    const sku = await s.freshProduct(1000, 100);
    // Orders placed continuously (bounded). While PostgreSQL is down a placement answers UNAVAILABLE; the client
    // retries it with the same idempotency key, so a placement that committed before its answer was lost is
    // replayed, not doubled.
    const placed: string[] = [];
    let failedAttempts = 0;
    placer = (async () => {
      for (let i = 0; i < 200 && placing; i++) {
        const key = randomUUID();
        const customer = uniqueCustomer('pgr');
        const o = await eventually(
          async () => {
            try {
              return (await s.place(customer, [{ sku, quantity: 1 }], key)).order;
            } catch (err) {
              failedAttempts += 1;
              throw err;
            }
          },
          { what: 'an order placed', timeoutMs: 30_000, intervalMs: 200 },
        );
        placed.push(o.id);
        await sleep(50);
      }
    })();

    const postmasterStart = async () =>
      (await queryOne<{ t: Date }>(infra.adminDatabaseUrl, 'SELECT pg_postmaster_start_time() AS t')).t;
    const allReady = () =>
      eventually(async () => Object.values(await s.readiness()).every((st) => st === 200), {
        what: 'every backend ready again',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
    for (const kill of [false, true]) {
      const placedBefore = placed.length;
      await eventually(() => placed.length >= placedBefore + 10, {
        what: `${placedBefore + 10} orders placed`,
        timeoutMs: 45_000,
      });
      const before = await postmasterStart();
      await infra.restartPostgres({ kill });
      assert.ok((await postmasterStart()) > before, `a new postmaster (${kill ? 'kill -9' : 'fast'})`);
      await allReady();
    }
    const placedAfter = placed.length;
    await eventually(() => placed.length >= placedAfter + 10, { what: 'orders placed after the restarts' });
    placing = false;
    await placer;

    // Every order reaches a terminal state, and here (stock and credit for all) that state is APPROVED.
    for (const id of placed) await s.waitStatus(id, S.ORDER_STATUS_APPROVED, 60_000);
    for (const id of placed) await s.waitSaga(id, 'DONE', 30_000);
    // No order lost, none doubled: the database holds exactly the orders the clients were told about.
    assert.equal(new Set(placed).size, placed.length);
    const stored = await s.ordersDb.query<{ id: string }>('SELECT id FROM orders');
    assert.deepEqual(stored.rows.map((r) => r.id).sort(), [...placed].sort());
    // Stock and money agree with the orders: every unit committed once, every order authorized exactly once.
    assert.deepEqual(await s.stock(sku), {
      sku,
      initialStock: 1000,
      onHand: 1000 - placed.length,
      reserved: 0,
      committed: placed.length,
    });
    for (const id of placed) {
      assert.deepEqual(
        (await s.paymentsOf(id)).map((p) => [p.status, p.amountCents]),
        [[P.PAYMENT_STATUS_AUTHORIZED, 100]],
        `payment of ${id}`,
      );
      assert.equal(s.collector.deadLetter(id), undefined, `no dead letter for ${id}`);
    }
    // Nothing stuck in any outbox.
    for (const name of SERVICES) {
      await eventually(
        async () =>
          (await queryOne<{ n: number }>(infra.databaseUrls[name]!, 'SELECT count(*)::int AS n FROM outbox'))
            .n === 0,
        { what: `${name} outbox empty` },
      );
    }

    // The very instances started at the beginning served all of it, and answered /livez throughout.
    monitoring = false;
    await monitor;
    assert.deepEqual(livezFailures, []);
    assert.ok(livezChecks > 0);
    assert.equal(s.inventory, instances.inventory);
    assert.equal(s.payments, instances.payments);
    assert.equal(s.orders, instances.orders);
    // New orders after the restarts are approved at the first attempt.
    for (let i = 0; i < 3; i++) {
      const o = (await s.place(uniqueCustomer('pgr'), [{ sku, quantity: 1 }])).order!;
      await s.waitStatus(o.id, S.ORDER_STATUS_APPROVED);
    }
    console.log(
      `postgres-restart: ${placed.length} orders placed across two restarts, ${failedAttempts} placement attempts refused while PostgreSQL was down, ${livezChecks} /livez checks`,
    );
  } finally {
    placing = false;
    monitoring = false;
    await placer.catch(() => undefined);
    await monitor.catch(() => undefined);
    await stack?.stop();
    await own?.stop().catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
  }
});
