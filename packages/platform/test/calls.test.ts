import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inventoryV1, ServiceNames } from '@shop/contracts';
import pino from 'pino';
import type { DependencySettings, RunningGrpcServer, grpc } from '../src';
import {
  createGrpcClient,
  createMetrics,
  DEFAULT_DEPENDENCY_SETTINGS,
  dependencyGuard,
  grpcError,
  startGrpcServer,
  Status,
  unary,
} from '../src';

const logger = pino({ level: 'silent' });
type Cb = grpc.sendUnaryData<unknown>;

/** A real gRPC server (inventory's contract) whose behaviour each test scripts, counting the calls it gets. */
class Scripted {
  hits = { listProducts: 0, getProduct: 0, quoteItems: 0 };
  /** Answers of the next calls: an error code, or 'ok'. Empty: 'ok'. */
  script: (number | 'ok')[] = [];
  holdMs = 0;
  lastDeadlineMs: number | undefined;
  server!: RunningGrpcServer;

  private answer(callback: Cb, res: unknown) {
    const next = this.script.shift() ?? 'ok';
    setTimeout(() => {
      if (next === 'ok') callback(null, res);
      else callback(grpcError(next, `scripted ${Status[next]}`));
    }, this.holdMs);
  }

  async start() {
    const metrics = createMetrics('resilience-test-server');
    this.server = await startGrpcServer(
      {
        services: [
          {
            name: ServiceNames.inventory,
            definition: inventoryV1.InventoryServiceService,
            implementation: {
              listProducts: (_call: unknown, cb: Cb) => {
                this.hits.listProducts++;
                this.answer(cb, { products: [] });
              },
              getProduct: (call: { getDeadline(): Date | number }, cb: Cb) => {
                this.hits.getProduct++;
                const d = call.getDeadline();
                this.lastDeadlineMs = (d instanceof Date ? d.getTime() : d) - Date.now();
                this.answer(cb, { product: undefined });
              },
              quoteItems: (_call: unknown, cb: Cb) => {
                this.hits.quoteItems++;
                this.answer(cb, { lines: [], currency: 'EUR' });
              },
              listStockLevels: (_call: unknown, cb: Cb) => cb(null, { levels: [] }),
            },
          },
        ],
        metrics,
        logger,
      },
      '127.0.0.1',
      0,
      'GRPC_PORT',
    );
    this.server.setServing(true);
  }
}

function client(port: number, settings: DependencySettings, methods: string[] = ['ListProducts']) {
  const metrics = createMetrics('resilience-test');
  const c = createGrpcClient(inventoryV1.InventoryServiceClient, `127.0.0.1:${port}`, {
    deadlineMs: 2000,
    metrics,
    retry: { service: ServiceNames.inventory, methods, settings: settings.retry },
  });
  const guard = dependencyGuard('inventory', settings, { metrics, logger });
  return { c, guard, metrics };
}

const metricValue = async (
  metrics: ReturnType<typeof createMetrics>,
  name: string,
  labels: Record<string, string>,
) => {
  const m = metrics.registry.getSingleMetric(name);
  const v = (await m?.get())?.values.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value;
};

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (err: unknown) => Status[(err as { code: number }).code],
  );

describe('resilience of outgoing gRPC calls (real gRPC on loopback)', () => {
  const srv = new Scripted();
  before(() => srv.start());
  after(() => srv.server.stop(1000));

  it('retries a read on UNAVAILABLE with backoff, and never a method not listed as safe to repeat', async () => {
    const settings = { ...DEFAULT_DEPENDENCY_SETTINGS, breakerFailures: 0 };
    const { c } = client(srv.server.port, settings, ['ListProducts']);
    srv.hits.listProducts = 0;
    srv.script = [Status.UNAVAILABLE, Status.UNAVAILABLE];
    await unary(c.listProducts.bind(c), {});
    assert.equal(srv.hits.listProducts, 3, 'two failed attempts, then the one that succeeded');

    srv.hits.quoteItems = 0;
    srv.script = [Status.UNAVAILABLE];
    assert.equal(await codeOf(unary(c.quoteItems.bind(c), { items: [] })), 'UNAVAILABLE');
    assert.equal(srv.hits.quoteItems, 1, 'QuoteItems is not in the retryable list: one attempt');

    srv.hits.listProducts = 0;
    srv.script = [Status.INTERNAL];
    assert.equal(await codeOf(unary(c.listProducts.bind(c), {})), 'INTERNAL');
    assert.equal(srv.hits.listProducts, 1, 'only UNAVAILABLE is retried');
    c.close();
  });

  it('stops retrying when the retry budget is spent: a dependency that is down is not hammered', async () => {
    const settings = { ...DEFAULT_DEPENDENCY_SETTINGS, breakerFailures: 0 };
    const { c } = client(srv.server.port, settings);
    srv.hits.listProducts = 0;
    const calls = 30;
    srv.script = Array.from({ length: calls * 3 }, () => Status.UNAVAILABLE);
    for (let i = 0; i < calls; i++) await codeOf(unary(c.listProducts.bind(c), {}));
    srv.script = [];
    // Without a budget: 30 calls x 3 attempts = 90. With gRPC retry throttling (10 tokens, retries only above 5):
    // a handful of retries, then one attempt per call.
    assert.ok(
      srv.hits.listProducts < calls + 10,
      `${srv.hits.listProducts} attempts for ${calls} calls: the budget bounds the retries`,
    );
    c.close();
  });

  it('opens the circuit after consecutive failures, fails fast while open, and closes after a good trial call', async () => {
    const settings = {
      ...DEFAULT_DEPENDENCY_SETTINGS,
      breakerFailures: 3,
      breakerHalfOpenMs: 300,
      retry: { ...DEFAULT_DEPENDENCY_SETTINGS.retry, maxAttempts: 1 },
    };
    const { c, guard, metrics } = client(srv.server.port, settings);
    assert.equal(await metricValue(metrics, 'circuit_breaker_state', { dependency: 'inventory' }), 0);
    srv.hits.listProducts = 0;
    srv.script = [Status.UNAVAILABLE, Status.UNAVAILABLE, Status.UNAVAILABLE];
    for (let i = 0; i < 3; i++) await codeOf(guard.execute(() => unary(c.listProducts.bind(c), {})));
    assert.equal(guard.state(), 'open');
    assert.equal(await metricValue(metrics, 'circuit_breaker_state', { dependency: 'inventory' }), 1);
    const started = Date.now();
    const fastFail = guard.execute(() => unary(c.listProducts.bind(c), {}));
    await assert.rejects(fastFail, (err: { code: number; details: string }) => {
      assert.equal(err.code, Status.UNAVAILABLE);
      assert.match(err.details, /circuit to inventory is open/);
      return true;
    });
    assert.ok(Date.now() - started < 100, 'an open circuit answers at once');
    assert.equal(srv.hits.listProducts, 3, 'the open circuit sent nothing to the dependency');
    assert.equal(
      await metricValue(metrics, 'circuit_breaker_rejected_total', { dependency: 'inventory' }),
      1,
    );

    await new Promise((r) => setTimeout(r, 350));
    await guard.execute(() => unary(c.listProducts.bind(c), {}));
    assert.equal(guard.state(), 'closed', 'a successful trial call closes the circuit');
    assert.equal(await metricValue(metrics, 'circuit_breaker_state', { dependency: 'inventory' }), 0);
    assert.equal(
      await metricValue(metrics, 'circuit_breaker_transitions_total', {
        dependency: 'inventory',
        to: 'open',
      }),
      1,
    );
    c.close();
  });

  it('a caller error (INVALID_ARGUMENT, NOT_FOUND) never opens the circuit', async () => {
    const settings = { ...DEFAULT_DEPENDENCY_SETTINGS, breakerFailures: 2 };
    const { c, guard } = client(srv.server.port, settings);
    srv.script = [Status.INVALID_ARGUMENT, Status.NOT_FOUND, Status.INVALID_ARGUMENT];
    for (let i = 0; i < 3; i++) await codeOf(guard.execute(() => unary(c.listProducts.bind(c), {})));
    assert.equal(guard.state(), 'closed');
    c.close();
  });

  it('limits the calls in flight to one dependency (bulkhead) and refuses the excess at once', async () => {
    const settings = { ...DEFAULT_DEPENDENCY_SETTINGS, breakerFailures: 0, bulkheadMax: 2, bulkheadQueue: 0 };
    const { c, guard, metrics } = client(srv.server.port, settings);
    srv.holdMs = 300;
    try {
      const results = await Promise.all(
        [1, 2, 3].map(() => codeOf(guard.execute(() => unary(c.listProducts.bind(c), {})))),
      );
      assert.deepEqual(results.sort(), ['OK', 'OK', 'UNAVAILABLE']);
      assert.equal(await metricValue(metrics, 'bulkhead_rejected_total', { dependency: 'inventory' }), 1);
    } finally {
      srv.holdMs = 0;
      c.close();
    }
  });

  it('propagates the incoming deadline: a call made while serving a call never outlives it', async () => {
    // A front server whose handler calls the scripted server with a client deadline of 2 s; the caller of the
    // front server gives 300 ms. The scripted server must see at most 300 ms, not 2 s.
    const settings = { ...DEFAULT_DEPENDENCY_SETTINGS };
    const { c } = client(srv.server.port, settings, []);
    const metrics = createMetrics('resilience-front');
    const front = await startGrpcServer(
      {
        services: [
          {
            name: ServiceNames.inventory,
            definition: inventoryV1.InventoryServiceService,
            implementation: {
              getProduct: (_call: unknown, cb: Cb) => {
                unary(c.getProduct.bind(c), { sku: 'SKU-0001' }).then(
                  (res) => cb(null, res),
                  (err: unknown) => cb(err as grpc.ServiceError),
                );
              },
              listProducts: (_c: unknown, cb: Cb) => cb(null, { products: [] }),
              quoteItems: (_c: unknown, cb: Cb) => cb(null, { lines: [] }),
              listStockLevels: (_c: unknown, cb: Cb) => cb(null, { levels: [] }),
            },
          },
        ],
        metrics,
        logger,
      },
      '127.0.0.1',
      0,
      'GRPC_PORT',
    );
    const caller = createGrpcClient(inventoryV1.InventoryServiceClient, `127.0.0.1:${front.port}`, {
      deadlineMs: 300,
      metrics,
    });
    try {
      srv.lastDeadlineMs = undefined;
      await unary(caller.getProduct.bind(caller), { sku: 'SKU-0001' });
      const left: number | undefined = (srv as { lastDeadlineMs?: number }).lastDeadlineMs;
      assert.ok(left !== undefined, 'the scripted server was called');
      assert.ok(left <= 300, `the inner call had ${left} ms left, not 2000`);
    } finally {
      caller.close();
      c.close();
      await front.stop(1000);
    }
  });
});
