import { join } from 'node:path';
import { ordersV1, ServiceNames } from '@shop/contracts';
import type { Logger, RunningService } from '@shop/platform';
import { createBackend, platformMigrationsDir, startupLogger } from '@shop/platform';
import type { AppDeps } from './app/deps';
import { startSweeper } from './app/sweep-sagas';
import { OrderChangeHub } from './adapters/db/order-changes';
import { inventoryClient } from './adapters/grpc/inventory-client';
import { orderService } from './adapters/grpc/order-service';
import { repliesConsumer } from './adapters/kafka/replies-consumer';
import type { Config } from './config';

export type { Config } from './config';
export { schema } from './config';

export interface OrdersService extends RunningService {
  /** The use-case dependencies (tests drive the sweeper and read metrics through them). */
  readonly deps: AppDeps;
}

/** The orders service: gRPC OrderService, the saga consumer, the deadline sweeper and the order-change listener. */
export function createService(config: Config, opts: { logger?: Logger } = {}): OrdersService {
  const logger = opts.logger ?? startupLogger('orders', config);
  const hub = new OrderChangeHub(
    config.DATABASE_URL,
    logger.child({ component: 'order-changes' }),
    config.WATCH_MAX_STREAMS,
  );
  let sweeper: { stop(): Promise<void> } | undefined;
  let inventory: ReturnType<typeof inventoryClient> | undefined;
  let deps: AppDeps | undefined;
  const depsOf = (ctx: RunningService['ctx']): AppDeps => {
    if (!deps) {
      inventory = inventoryClient(config.INVENTORY_ADDR, config.GRPC_DEADLINE_MS, ctx.metrics);
      deps = {
        pool: ctx.pool,
        relay: ctx.relay,
        metrics: ctx.metrics.saga,
        logger: ctx.logger,
        inventory,
        stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
        compensationMaxAttempts: config.COMPENSATION_MAX_ATTEMPTS,
      };
    }
    return deps;
  };
  const backend = createBackend(
    'orders',
    config,
    {
      migrationsDirs: [platformMigrationsDir, join(__dirname, '..', '..', 'migrations')],
      grpcServices: (ctx) => [
        {
          name: ServiceNames.orders,
          definition: ordersV1.OrderServiceService,
          implementation: orderService(depsOf(ctx), hub),
        },
      ],
      consumers: (ctx) => [repliesConsumer(depsOf(ctx))],
      onStart: async (ctx) => {
        await hub.start();
        sweeper = startSweeper(depsOf(ctx), config.SAGA_SWEEP_INTERVAL_MS);
      },
      onStop: async () => {
        await sweeper?.stop();
        await hub.stop();
        inventory?.close();
      },
    },
    logger,
  );
  return {
    get ports() {
      return backend.ports;
    },
    get ctx() {
      return backend.ctx;
    },
    get deps() {
      return depsOf(backend.ctx);
    },
    start: () => backend.start(),
    stop: () => backend.stop(),
  };
}
