import { join } from 'node:path';
import { ordersV1, ServiceNames, Topics } from '@shop/contracts';
import type { Logger, RunningService } from '@shop/platform';
import {
  backendContext,
  createAuthenticator,
  createBackend,
  dependencySettings,
  platformMigrationsDir,
  startupLogger,
} from '@shop/platform';
import type { AppDeps } from './app/deps';
import { sagaMetrics } from './app/saga-metrics';
import { startSweeper } from './app/sweep-sagas';
import { OrderChangeHub } from './adapters/db/order-changes';
import { COMMAND_TOPICS, restartDeadlines } from './adapters/db/orders-repo';
import { listParkedSagas } from './adapters/db/parked-sagas';
import { parkedSagasRoute } from './adapters/http/admin';
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

/**
 * The orders service: gRPC OrderService, the saga consumer, the deadline sweeper and the order-change listener.
 * Built top to bottom (nothing connects before start): the platform's parts, then this service's dependencies,
 * then the use-case dependencies every adapter shares.
 */
export function createService(config: Config, opts: { logger?: Logger } = {}): OrdersService {
  const logger = opts.logger ?? startupLogger('orders', config);
  const ctx = backendContext('orders', config, logger, {
    // A step's deadline runs from when its command reached the broker, not from when it was written to the outbox.
    onPublished: (tx, published) =>
      restartDeadlines(
        tx,
        [...new Set(published.filter((p) => COMMAND_TOPICS.includes(p.topic)).map((p) => p.key))],
        config.SAGA_STEP_TIMEOUT_MS,
      ),
  });
  const changes = new OrderChangeHub(
    config.DATABASE_URL,
    logger.child({ component: 'order-changes' }),
    config.WATCH_MAX_STREAMS,
  );
  const inventory = inventoryClient(config.INVENTORY_ADDR, {
    deadlineMs: config.GRPC_DEADLINE_MS,
    metrics: ctx.metrics,
    logger: ctx.logger,
    settings: dependencySettings(config),
    discoveryRefreshMs: config.DISCOVERY_REFRESH_MS,
    ...(ctx.tls ? { tls: ctx.tls } : {}),
  });
  const deps: AppDeps = {
    pool: ctx.pool,
    relay: ctx.relay,
    metrics: sagaMetrics(ctx.metrics.registry),
    logger: ctx.logger,
    inventory,
    changes,
    stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
    compensationMaxAttempts: config.COMPENSATION_MAX_ATTEMPTS,
    faults: ctx.faults,
  };
  let sweeper: { stop(): Promise<void> } | undefined;
  const backend = createBackend(config, ctx, {
    migrationsDirs: [platformMigrationsDir, join(__dirname, '..', '..', 'migrations')],
    grpcServices: [
      {
        name: ServiceNames.orders,
        definition: ordersV1.OrderServiceService,
        implementation: orderService(
          deps,
          createAuthenticator(config, { logger: ctx.logger, registry: ctx.metrics.registry }),
        ),
      },
    ],
    consumers: [repliesConsumer(deps, config.MESSAGE_READER)],
    publishes: [Topics.inventoryCommands, Topics.paymentsCommands, Topics.ordersEvents],
    adminRoutes: parkedSagasRoute(() => listParkedSagas(ctx.pool)),
    onStart: async () => {
      await changes.start();
      if (config.SAGA_SWEEPER === 'on') sweeper = startSweeper(deps, config.SAGA_SWEEP_INTERVAL_MS);
      else
        ctx.logger.info(
          { code: 'SWEEPER_OFF' },
          'SAGA_SWEEPER=off: no saga deadline sweeper in this replica',
        );
    },
    // After the gRPC drain, the consumers and the relay: what a call in flight uses is closed last.
    onStop: async () => {
      await sweeper?.stop();
      await changes.stop();
      inventory.close();
    },
  });
  return { ...backend, deps };
}
