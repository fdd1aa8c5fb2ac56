// Test support: the three backends booted in-process against the real PostgreSQL and Kafka of `testInfra()`, gRPC
// clients, and a Kafka recorder (@shop/testkit) on the saga's topics so tests can assert on what was published.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { dltTopic, inventoryV1, ordersV1, paymentsV1, Topics } from '@shop/contracts';
import { createService as createInventory, schema as inventorySchema } from '@shop/inventory';
import { createService as createPayments, schema as paymentsSchema } from '@shop/payments';
import type { RunningService } from '@shop/platform';
import { loadConfig } from '@shop/platform';
import * as rules from '@shop/contracts/rules';
import {
  eventually,
  KafkaRecorder,
  serviceEnv,
  testInfra,
  testIssuer,
  type TestInfra,
  type TestIssuer,
} from '@shop/testkit';
import { Kafka, logLevel } from 'kafkajs';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import { createService as createOrders, schema as ordersSchema, type OrdersService } from '../src/service';

export const infra = testInfra();
const sharedInfra = infra;

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (e: grpc.ServiceError | null, r: Res) => void,
) => unknown;

// The real issuer (tools/issuer, in this process) whose tokens orders and payments verify; shared by the stacks of
// a test file and stopped with the last of them.
let issuer: TestIssuer | undefined;
let issuerUsers = 0;
const passwords = new Map<string, Promise<string>>([
  ['alice', Promise.resolve('alice-demo')],
  ['bob', Promise.resolve('bob-demo')],
]);

async function acquireIssuer(): Promise<TestIssuer> {
  issuerUsers += 1;
  issuer ??= await testIssuer();
  return issuer;
}
async function releaseIssuer(): Promise<void> {
  issuerUsers -= 1;
  if (issuerUsers > 0 || !issuer) return;
  const i = issuer;
  issuer = undefined;
  await i.stop();
}

/** `authorization: Bearer <token>` metadata of a customer (signed up at the issuer on first use) or the operator. */
export async function bearer(customerId?: string): Promise<grpc.Metadata> {
  if (!issuer) throw new Error('no issuer: start a Stack first');
  const client = issuer.client;
  let token: string;
  if (customerId === undefined) token = await client.operator().token();
  else {
    let password = passwords.get(customerId);
    if (!password) {
      const chosen = randomUUID();
      password = client.register(customerId, chosen).then(() => chosen);
      passwords.set(customerId, password);
    }
    token = await client.token(customerId, await password);
  }
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

/**
 * Who a test's call acts as: the customer its request names, when that is a well-formed customer id (signed in at
 * the real issuer), else the operator (who may read everything and whose malformed ids validation refuses).
 */
export function bearerFor(req: unknown): Promise<grpc.Metadata> {
  const named = (req as { customerId?: unknown } | null)?.customerId;
  const valid = typeof named === 'string' && rules.checkString(rules.CUSTOMER_ID, named) === undefined;
  return bearer(valid ? named : undefined);
}

/** A unary call, with the token of `bearerFor(req)` unless `md` is given (an empty Metadata: no token at all). */
export async function call<Req, Res>(method: Unary<Req, Res>, req: Req, md?: grpc.Metadata): Promise<Res> {
  const metadata = md ?? (await bearerFor(req));
  return new Promise((resolve, reject) =>
    method(req, metadata, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r))),
  );
}

/** The gRPC error of a call that must fail. */
export async function callError<Req, Res>(
  method: Unary<Req, Res>,
  req: Req,
  md?: grpc.Metadata,
): Promise<grpc.ServiceError> {
  try {
    await call(method, req, md);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

/**
 * inventory, payments and orders in this process; each can be stopped and restarted on the same ports. By default
 * against the test run's PostgreSQL and Kafka; a test that breaks its infrastructure passes its own.
 */
export class Stack {
  inventory: RunningService | undefined;
  payments: RunningService | undefined;
  orders: OrdersService | undefined;
  readonly ports = { inventory: 0, payments: 0, orders: 0 };
  ordersClient!: ordersV1.OrderServiceClient;
  inventoryClient!: inventoryV1.InventoryServiceClient;
  paymentsClient!: paymentsV1.PaymentServiceClient;
  readonly kafka: Kafka;
  producer!: Producer;
  /** Every saga topic (and the replies' DLTs) from the beginning: tests find their order's messages by key. */
  collector!: KafkaRecorder;
  inventoryDb!: pg.Pool;
  ordersDb!: pg.Pool;

  constructor(readonly infra: TestInfra = sharedInfra) {
    this.kafka = new Kafka({
      clientId: 'orders-test',
      brokers: infra.kafkaBrokers.split(','),
      logLevel: logLevel.NOTHING,
    });
  }

  /** The issuer URL orders and payments trust (set by start). */
  issuerUrl = '';

  async start(orderEnv: Record<string, string>): Promise<void> {
    this.issuerUrl = (await acquireIssuer()).url;
    this.producer = this.kafka.producer();
    await this.producer.connect();
    this.collector = await KafkaRecorder.start(
      [
        Topics.inventoryCommands,
        Topics.inventoryReplies,
        Topics.paymentsCommands,
        Topics.paymentsReplies,
        Topics.ordersEvents,
        dltTopic(Topics.inventoryReplies),
        dltTopic(Topics.paymentsReplies),
      ],
      { kafka: this.kafka, group: 'orders-test' },
    );
    this.inventoryDb = new pg.Pool({ connectionString: this.infra.databaseUrls.inventory, max: 2 });
    this.ordersDb = new pg.Pool({ connectionString: this.infra.databaseUrls.orders, max: 2 });
    // The hardening tests terminate every backend of the services' roles, the test's own connections included.
    for (const p of [this.inventoryDb, this.ordersDb]) p.on('error', () => undefined);
    await this.startInventory();
    await this.startPayments();
    await this.startOrders(orderEnv);
  }

  async startInventory(): Promise<void> {
    const env = serviceEnv('inventory', this.infra, {
      GRPC_PORT: String(this.ports.inventory),
      LOG_LEVEL: 'error',
    });
    this.inventory = createInventory(loadConfig(inventorySchema, env));
    await this.inventory.start();
    if (!this.ports.inventory) {
      this.ports.inventory = this.inventory.ports.grpc;
      this.inventoryClient = new inventoryV1.InventoryServiceClient(
        `127.0.0.1:${this.ports.inventory}`,
        grpc.credentials.createInsecure(),
      );
    }
  }

  async startPayments(): Promise<void> {
    const env = serviceEnv('payments', this.infra, {
      GRPC_PORT: String(this.ports.payments),
      OIDC_ISSUER: this.issuerUrl,
      LOG_LEVEL: 'error',
    });
    this.payments = createPayments(loadConfig(paymentsSchema, env));
    await this.payments.start();
    if (!this.ports.payments) {
      this.ports.payments = this.payments.ports.grpc;
      this.paymentsClient = new paymentsV1.PaymentServiceClient(
        `127.0.0.1:${this.ports.payments}`,
        grpc.credentials.createInsecure(),
      );
    }
  }

  async startOrders(extra: Record<string, string>): Promise<void> {
    const env = serviceEnv('orders', this.infra, {
      GRPC_PORT: String(this.ports.orders),
      INVENTORY_ADDR: `127.0.0.1:${this.ports.inventory}`,
      LOG_LEVEL: 'error',
      OIDC_ISSUER: this.issuerUrl,
      ...extra,
    });
    this.orders = createOrders(loadConfig(ordersSchema, env));
    await this.orders.start();
    if (!this.ports.orders) {
      this.ports.orders = this.orders.ports.grpc;
      this.ordersClient = new ordersV1.OrderServiceClient(
        `127.0.0.1:${this.ports.orders}`,
        grpc.credentials.createInsecure(),
      );
    }
  }

  async stopInventory() {
    await this.inventory?.stop();
    this.inventory = undefined;
  }
  async stopPayments() {
    await this.payments?.stop();
    this.payments = undefined;
  }
  async stopOrders() {
    await this.orders?.stop();
    this.orders = undefined;
  }

  async stop(): Promise<void> {
    await this.stopOrders().catch(() => undefined);
    await this.stopPayments().catch(() => undefined);
    await this.stopInventory().catch(() => undefined);
    this.ordersClient?.close();
    this.inventoryClient?.close();
    this.paymentsClient?.close();
    await this.collector?.stop().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.inventoryDb?.end().catch(() => undefined);
    await this.ordersDb?.end().catch(() => undefined);
    if (this.issuerUrl) {
      this.issuerUrl = '';
      await releaseIssuer();
    }
  }

  /** /readyz status of each running backend. */
  async readiness(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [name, svc] of Object.entries({
      inventory: this.inventory,
      payments: this.payments,
      orders: this.orders,
    })) {
      out[name] = svc ? (await fetch(`http://127.0.0.1:${svc.ports.http}/readyz`)).status : 0;
    }
    return out;
  }

  // --- helpers on the public interfaces ---

  /** PlaceOrder as `customerId` (signed in first unless `md` is given: a test timing the call signs in before). */
  place(
    customerId: string,
    items: { sku: string; quantity: number }[],
    idempotencyKey = '',
    md?: grpc.Metadata,
  ) {
    return call(
      this.ordersClient.placeOrder.bind(this.ordersClient),
      { customerId, items, idempotencyKey },
      md,
    );
  }

  async get(orderId: string): Promise<ordersV1.Order> {
    const r = await call(this.ordersClient.getOrder.bind(this.ordersClient), { orderId });
    if (!r.order) throw new Error('GetOrder returned no order');
    return r.order;
  }

  /** Waits until the order has `status` (and, for REJECTED, `reason`). */
  async waitStatus(
    orderId: string,
    status: ordersV1.OrderStatus,
    timeoutMs = 20_000,
  ): Promise<ordersV1.Order> {
    return eventually(
      async () => {
        const o = await this.get(orderId);
        return o.status === status ? o : undefined;
      },
      { what: `order ${orderId} ${ordersV1.orderStatusToJSON(status)}`, timeoutMs },
    );
  }

  async saga(
    orderId: string,
  ): Promise<{ step: string; pending: string[]; attempts: number; parked: boolean }> {
    const { rows } = await this.ordersDb.query<{
      step: string;
      pending: string[];
      attempts: number;
      parked: boolean;
    }>('SELECT step, pending, attempts, parked FROM sagas WHERE order_id = $1', [orderId]);
    if (!rows[0]) throw new Error(`no saga for ${orderId}`);
    return rows[0];
  }

  async waitSaga(orderId: string, step: string, timeoutMs = 20_000) {
    return eventually(async () => ((await this.saga(orderId)).step === step ? true : undefined), {
      what: `saga ${orderId} at ${step}`,
      timeoutMs,
    });
  }

  /** A product only this test uses, inserted through inventory's own database. */
  async freshProduct(stock: number, priceCents = 1000): Promise<string> {
    const sku = `T-${randomUUID().slice(0, 18)}`;
    await this.inventoryDb.query(
      "INSERT INTO products (sku, name, price_cents, currency, initial_stock, on_hand) VALUES ($1, 'orders test product', $2, 'EUR', $3, $3)",
      [sku, priceCents, stock],
    );
    return sku;
  }

  async stock(sku: string): Promise<inventoryV1.StockLevel> {
    const r = await call(this.inventoryClient.listStockLevels.bind(this.inventoryClient), {});
    const level = r.levels.find((l) => l.sku === sku);
    if (!level) throw new Error(`no stock level for ${sku}`);
    return level;
  }

  async paymentsOf(orderId: string): Promise<paymentsV1.Payment[]> {
    const r = await call(this.paymentsClient.listPayments.bind(this.paymentsClient), {
      orderId,
      customerId: '',
    });
    return r.payments;
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = this.orders?.ctx.metrics.registry.getSingleMetric(name);
    if (!m) return 0;
    const v = await m.get();
    return v.values
      .filter((x) =>
        Object.entries(labels).every(
          ([k, want]) => String((x.labels as Record<string, unknown>)[k]) === want,
        ),
      )
      .reduce((sum, x) => sum + x.value, 0);
  }
}
