import { join } from 'node:path';
import { Topics } from '@shop/contracts';
import type { Logger, RunningService } from '@shop/platform';
import {
  backendContext,
  createAuthenticator,
  createBackend,
  platformMigrationsDir,
  startupLogger,
} from '@shop/platform';
import { paymentGrpcService } from './adapters/grpc/payment-service';
import { paymentCommandsConsumer } from './adapters/kafka/commands-consumer';
import type { Config } from './config';

export type { Config } from './config';
export { schema } from './config';
export type { RunningService } from '@shop/platform';

export interface ServiceOptions {
  /** Defaults to a pino logger named `payments` at LOG_LEVEL. */
  logger?: Logger;
}

/** The payments service: gRPC PaymentService, the payments.commands.v1 consumer, the outbox relay. */
export function createService(config: Config, opts: ServiceOptions = {}): RunningService {
  const ctx = backendContext('payments', config, opts.logger ?? startupLogger('payments', config));
  return createBackend(config, ctx, {
    migrationsDirs: [platformMigrationsDir, join(__dirname, '..', '..', 'migrations')],
    grpcServices: [
      paymentGrpcService(
        ctx,
        createAuthenticator(config, { logger: ctx.logger, registry: ctx.metrics.registry }),
      ),
    ],
    consumers: [paymentCommandsConsumer(ctx, { creditLimitCents: config.CREDIT_LIMIT_CENTS })],
    publishes: [Topics.paymentsReplies],
  });
}
