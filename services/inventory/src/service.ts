import { join } from 'node:path';
import { Topics } from '@shop/contracts';
import type { Logger, RunningService } from '@shop/platform';
import { backendContext, createBackend, platformMigrationsDir, startupLogger } from '@shop/platform';
import { inventoryGrpcService } from './adapters/grpc/inventory-grpc';
import { inventoryCommandsConsumer } from './adapters/kafka/commands-consumer';
import { seedCatalog } from './app/seed-catalog';
import type { Config } from './config';

export type { Config } from './config';
export { schema } from './config';
export { SEED_CATALOG } from './domain/catalog';
export type { RunningService } from '@shop/platform';

export interface ServiceOptions {
  /** Defaults to a pino logger at LOG_LEVEL. */
  logger?: Logger;
}

/**
 * The inventory service: gRPC inventory.v1.InventoryService (reads and quotes) and the consumer of
 * inventory.commands.v1 (reserve, release, commit), replying on inventory.replies.v1 through the outbox.
 * The seed catalog is inserted on start (existing products keep their stock).
 */
export function createService(config: Config, opts: ServiceOptions = {}): RunningService {
  const ctx = backendContext('inventory', config, opts.logger ?? startupLogger('inventory', config));
  return createBackend(config, ctx, {
    migrationsDirs: [platformMigrationsDir, join(__dirname, '..', '..', 'migrations')],
    grpcServices: [inventoryGrpcService(ctx)],
    consumers: [inventoryCommandsConsumer(ctx)],
    publishes: [Topics.inventoryReplies],
    onStart: async () => {
      const inserted = await seedCatalog(ctx.pool);
      if (inserted > 0) ctx.logger.info({ inserted }, 'seed catalog inserted');
    },
  });
}
