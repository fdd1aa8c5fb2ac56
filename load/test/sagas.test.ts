// The operator command `npm run sagas -- list|resend|unpark` (src/sagas.ts, docs/runbooks/parked-sagas.md), run as
// the built process `scripts/platform.mjs tool sagas` starts, against sagas parked for real: inventory, payments and
// orders as processes on a PostgreSQL and a Kafka broker of this file's own (ports 55650-55660, 59310-59320), so no
// other orders instance sweeps these sagas.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ALL_TOPICS, MessageTypes, ordersV1, Topics } from '@shop/contracts';
import { startInfra, type Infra } from '@shop/infra';
import { eventually, KafkaRecorder, testIssuer } from '@shop/testkit';
import type { TestIssuer } from '@shop/testkit';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { bearer, call } from '../src/lib';
import { authEnv, startService, stopService, type ServiceProcess } from './stack';

// The entry `node scripts/platform.mjs tool sagas` runs (after building @shop/load), with the same Node flags.
const SAGAS = join(__dirname, '..', 'src', 'sagas.js');
const STEP_TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 2;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sagas(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', SAGAS, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
async function freePortIn(from: number, to: number, pair = false): Promise<number> {
  for (let p = from; p <= to; p++) {
    if ((await canBind(p)) && (!pair || (await canBind(p + 1)))) return p;
  }
  throw new Error(`no free port in ${from}-${to}`);
}

interface SagaRow {
  step: string;
  pending: string[];
  attempts: number;
  parked: boolean;
  deadline_in_ms: number | null;
  status: string;
  rejection_reason: string | null;
}

describe('npm run sagas: list, resend and unpark of really parked sagas', () => {
  let stateDir = '';
  let infra: Infra | undefined;
  let db: pg.Pool | undefined;
  /** Commands seen on payments.commands.v1 (tests look them up by order id). */
  let sent: KafkaRecorder | undefined;
  let orders: ordersV1.OrderServiceClient | undefined;
  const procs: Partial<Record<'inventory' | 'payments' | 'orders', ServiceProcess>> = {};
  let env: Record<string, string> = {};
  let sku = '';
  // The real issuer whose tokens orders and payments accept; each order is placed by a customer of its own.
  let issuer: TestIssuer | undefined;
  let auth: Record<string, string> = {};

  const refunds = (orderId: string) => sent?.count(orderId, MessageTypes.RefundPayment) ?? 0;

  async function saga(orderId: string): Promise<SagaRow> {
    const { rows } = await db!.query<SagaRow>(
      `SELECT s.step, s.pending, s.attempts, s.parked, o.status, o.rejection_reason,
              (extract(epoch FROM s.deadline - now()) * 1000)::float8 AS deadline_in_ms
         FROM sagas s JOIN orders o ON o.id = s.order_id WHERE s.order_id = $1`,
      [orderId],
    );
    if (!rows[0]) throw new Error(`no saga for ${orderId}`);
    return rows[0];
  }
  const waitSaga = (orderId: string, what: string, ok: (s: SagaRow) => boolean, timeoutMs = 20_000) =>
    eventually(async () => ok(await saga(orderId)), { what: `saga ${orderId} ${what}`, timeoutMs });

  async function place(): Promise<string> {
    const customer = issuer!.client.customer('sagas');
    const r = await call(
      orders!.placeOrder.bind(orders!),
      { customerId: customer.customerId, items: [{ sku, quantity: 1 }], idempotencyKey: '' },
      10_000,
      bearer(await customer.token()),
    );
    return r.order!.id;
  }

  async function startPayments(): Promise<void> {
    procs.payments = await startService('payments', {
      DATABASE_URL: infra!.databaseUrls.payments!,
      KAFKA_BROKERS: infra!.kafkaBrokers,
      ...auth,
    });
  }

  async function blackhole(on: boolean): Promise<void> {
    const line = procs.orders!.logs.find((l) => typeof l.adminPort === 'number');
    const url = `http://127.0.0.1:${String(line?.adminPort)}/faults/kafka-producer-blackhole`;
    const r = on
      ? await fetch(url, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: Topics.paymentsCommands }),
        })
      : await fetch(url, { method: 'DELETE' });
    assert.ok(r.ok, `fault admin API: ${r.status} ${await r.text()}`);
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'load-sagas-'));
    infra = await startInfra({
      stateDir,
      services: ['orders', 'inventory', 'payments'],
      postgresPort: await freePortIn(55650, 55660),
      kafkaPort: await freePortIn(59310, 59319, true),
      topics: [...ALL_TOPICS],
      env: { ...process.env, SHOP_POSTGRES_URL: '', KAFKA_BROKERS: '' },
    });
    env = { SHOP_ORDERS_DATABASE_URL: infra.databaseUrls.orders! };
    db = new pg.Pool({ connectionString: infra.databaseUrls.orders, max: 2 });
    db.on('error', () => undefined);
    const kafka = new Kafka({
      clientId: 'sagas-test',
      brokers: [infra.kafkaBrokers],
      logLevel: logLevel.NOTHING,
    });
    sent = await KafkaRecorder.start([Topics.paymentsCommands], { kafka, group: 'sagas-test' });
    issuer = await testIssuer();
    auth = authEnv(issuer);
    // payments is not started yet: the outage that gets the refunds parked.
    procs.inventory = await startService('inventory', {
      DATABASE_URL: infra.databaseUrls.inventory!,
      KAFKA_BROKERS: infra.kafkaBrokers,
      ...auth,
    });
    procs.orders = await startService('orders', {
      ...auth,
      DATABASE_URL: infra.databaseUrls.orders!,
      KAFKA_BROKERS: infra.kafkaBrokers,
      INVENTORY_ADDR: `127.0.0.1:${procs.inventory.grpcPort}`,
      SAGA_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS),
      SAGA_SWEEP_INTERVAL_MS: '200',
      COMPENSATION_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      ADMIN_PORT: '0',
    });
    orders = new ordersV1.OrderServiceClient(
      `127.0.0.1:${procs.orders.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    sku = `SAGAS-${randomUUID().slice(0, 8)}`;
    const inventoryDb = new pg.Client({ connectionString: infra.databaseUrls.inventory });
    await inventoryDb.connect();
    await inventoryDb.query(
      "INSERT INTO products (sku, name, price_cents, currency, initial_stock, on_hand) VALUES ($1, 'sagas test', 100, 'EUR', 10, 10)",
      [sku],
    );
    await inventoryDb.end();
  });

  after(async () => {
    orders?.close();
    const codes = await Promise.all(
      (['orders', 'payments', 'inventory'] as const).map((n) => {
        const p = procs[n];
        return p ? stopService(p) : Promise.resolve(0);
      }),
    );
    await sent?.stop().catch(() => undefined);
    await db?.end().catch(() => undefined);
    await infra?.stop().catch(() => undefined);
    await issuer?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0], 'every service exits 0 on SIGTERM');
  });

  test('bad usage is exit 2 with a clear message, before any connection; --help is exit 0', async () => {
    for (const [args, message] of [
      [[], /^missing command\n\nusage: npm run sagas -- <command>/],
      [['resend'], /^resend needs an order id\n\nusage:/],
      [['unpark'], /^unpark needs an order id\n\nusage:/],
      [['resend', 'not-an-id'], /^"not-an-id" is not an order id \(a UUID\)\n$/],
      [['list', 'extra'], /^unknown arguments: list extra\n\nusage:/],
      [['frobnicate'], /^unknown arguments: frobnicate\n\nusage:/],
      [['resend', randomUUID(), randomUUID()], /^unknown arguments: resend /],
    ] as const) {
      // No database variable at all: bad usage is reported as such, not as a connection failure.
      const r = await sagas([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const noDb = await sagas(['list']);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /set SHOP_ORDERS_DATABASE_URL \(or SHOP_ADMIN_DATABASE_URL\)/);
    const badTimeout = await sagas(['unpark', randomUUID()], { ...env, SAGA_STEP_TIMEOUT_MS: 'soon' });
    assert.equal(badTimeout.code, 2);
    assert.match(
      badTimeout.stderr,
      /SAGA_STEP_TIMEOUT_MS must be a positive integer \(milliseconds\), got "soon"/,
    );
    const help = await sagas(['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(
      help.stdout,
      /^usage: npm run sagas -- <command>[\s\S]*resend <orderId>[\s\S]*unpark <orderId>/,
    );
  });

  test('the orders database unreachable is exit 1 with the reason', async () => {
    const url = new URL(infra!.databaseUrls.orders!);
    url.port = String(await freePortIn(55650, 55660));
    const r = await sagas(['list'], { SHOP_ORDERS_DATABASE_URL: url.toString() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cannot reach the orders database: .*ECONNREFUSED/);
  });

  test('list shows parked sagas; resend and unpark send again with a fresh budget; payments back finishes them', async () => {
    const empty = await sagas(['list'], env);
    assert.deepEqual([empty.code, empty.stdout], [0, 'no parked or failing sagas\n']);

    // Payments down: the authorizations time out, the orders are rejected (TIMEOUT) and compensated; the refunds
    // get no answer, are re-sent, then parked after COMPENSATION_MAX_ATTEMPTS sends.
    const a = await place();
    const b = await place();
    for (const id of [a, b]) {
      await waitSaga(id, 'parked', (s) => s.parked);
      assert.deepEqual(
        (({ step, pending, status, rejection_reason }) => ({ step, pending, status, rejection_reason }))(
          await saga(id),
        ),
        {
          step: 'COMPENSATING',
          pending: ['REFUND_PAYMENT'],
          status: 'REJECTED',
          rejection_reason: 'TIMEOUT',
        },
      );
      await eventually(() => refunds(id) === MAX_ATTEMPTS, { what: `${MAX_ATTEMPTS} refunds of ${id} sent` });
    }
    // The admin URL works as well (what `npm run` sets for the local platform).
    const adminUrl = new URL(infra!.adminDatabaseUrl);
    const list = await sagas(['list'], { SHOP_ADMIN_DATABASE_URL: adminUrl.toString() });
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.equal(lines[0], '2 saga(s):');
    for (const id of [a, b]) {
      const line = lines.find((l) => l.startsWith(id));
      assert.match(
        line ?? '',
        new RegExp(
          `^${id} {2}order REJECTED {2}step COMPENSATING {2}pending REFUND_PAYMENT {2}sends ${MAX_ATTEMPTS} {2}PARKED since \\d{4}-\\d\\d-\\d\\dT`,
        ),
        list.stdout,
      );
    }
    // Parked means no automatic re-send: more than a step timeout later, nothing more was sent.
    await sleep(STEP_TIMEOUT_MS + 1000);
    assert.equal(refunds(a), MAX_ATTEMPTS);
    assert.ok((await saga(a)).parked);

    // resend: re-sent on the next sweep, then the normal retries, COMPENSATION_MAX_ATTEMPTS sends in all.
    const resend = await sagas(['resend', a.toUpperCase()], env);
    assert.equal(resend.code, 0, resend.stderr);
    assert.equal(
      resend.stdout,
      `saga of order ${a} un-parked; orders re-sends REFUND_PAYMENT on its next sweep\n`,
    );
    assert.equal((await saga(a)).parked, false);
    await eventually(() => refunds(a) === MAX_ATTEMPTS + 1, { what: 'the refund re-sent', timeoutMs: 3000 });
    await waitSaga(a, 'parked again', (s) => s.parked);
    await eventually(() => refunds(a) === 2 * MAX_ATTEMPTS, { what: 'a fresh budget of sends' });

    // unpark: the first re-send one step timeout (the command's SAGA_STEP_TIMEOUT_MS) from now.
    const t0 = Date.now();
    const unpark = await sagas(['unpark', b], { ...env, SAGA_STEP_TIMEOUT_MS: '1500' });
    assert.equal(unpark.code, 0, unpark.stderr);
    assert.equal(unpark.stdout, `saga of order ${b} un-parked with a fresh retry budget\n`);
    const row = await saga(b);
    assert.equal(row.parked, false);
    assert.ok(
      row.deadline_in_ms !== null && row.deadline_in_ms > 0 && row.deadline_in_ms <= 1500,
      String(row.deadline_in_ms),
    );
    assert.equal(refunds(b), MAX_ATTEMPTS, 'nothing sent at once');
    await eventually(() => refunds(b) === MAX_ATTEMPTS + 1, { what: 'the refund re-sent' });
    assert.ok(Date.now() - t0 >= 1400, 'not before the new deadline');
    await waitSaga(b, 'parked again', (s) => s.parked);
    await eventually(() => refunds(b) === 2 * MAX_ATTEMPTS, { what: 'a fresh budget of sends' });

    // The cause fixed: payments back answers the refunds; both sagas finish.
    await startPayments();
    for (const id of [a, b]) await waitSaga(id, 'DONE', (s) => s.step === 'DONE' && !s.parked, 30_000);
    const none = await sagas(['list'], env);
    assert.deepEqual([none.code, none.stdout], [0, 'no parked or failing sagas\n']);
    const done = await sagas(['resend', a], env);
    assert.equal(done.code, 3);
    assert.equal(done.stderr, `the saga of order ${a} is DONE: nothing to send\n`);
  });

  test('a refund lost on its way is sent again only by resend, and the saga finishes; unknown and forward sagas are exit 3', async () => {
    if (!procs.payments) await startPayments();
    // Every payments command of orders is lost (reported sent, never delivered): nothing waits in Kafka, so once
    // the cause is gone only a re-send can finish the saga.
    await blackhole(true);
    const c = await place();
    // Still in its forward step (the authorization waits for its deadline): neither command applies.
    for (const cmd of ['resend', 'unpark']) {
      const r = await sagas([cmd, c], env);
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^the saga of order ${c} is at (RESERVE_STOCK|AUTHORIZE_PAYMENT) and not parked: it is still waiting for its reply\\n$`,
        ),
      );
    }
    await waitSaga(c, 'parked', (s) => s.parked);
    await blackhole(false);
    await sleep(STEP_TIMEOUT_MS + 1000);
    assert.ok((await saga(c)).parked, 'still parked: nothing will answer by itself');
    assert.equal(refunds(c), 0);
    const r = await sagas(['resend', c], env);
    assert.equal(r.code, 0, r.stderr);
    await waitSaga(c, 'DONE', (s) => s.step === 'DONE' && !s.parked);
    assert.equal(refunds(c), 1);
    assert.equal((await saga(c)).rejection_reason, 'TIMEOUT');

    const unknown = randomUUID();
    for (const cmd of ['resend', 'unpark']) {
      const u = await sagas([cmd, unknown], env);
      assert.equal(u.code, 3);
      assert.equal(u.stderr, `no saga for order ${unknown}\n`);
      assert.equal(u.stdout, '');
    }
  });
});
