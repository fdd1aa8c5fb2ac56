import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { env } from './config';
import type { Pool } from './db';
import { createPool, migrate, waitForDatabase } from './db';
import type { RunningGrpcServer, GrpcServerOptions } from './grpc';
import { startGrpcServer } from './grpc';
import type { HttpServer, HttpServerOptions } from './http';
import { createHttpServer } from './http';
import type { MessageBus, SubscribeOptions } from './kafka';
import { createKafkaBus, waitForKafka } from './kafka';
import type { Logger } from './logger';
import { createLogger } from './logger';
import { OutboxRelay } from './messaging';
import type { Metrics } from './metrics';
import { createMetrics } from './metrics';
import { errorMessage } from './retry';

/** Variables every service has; each service schema spreads these and adds its own. */
export const commonConfig = (httpPort: number) => ({
  BIND_HOST: env.host('127.0.0.1', 'address the HTTP and gRPC servers bind to (0.0.0.0 in containers)'),
  HTTP_PORT: env.port(httpPort, 'HTTP port for probes (/livez, /readyz) and /metrics'),
  LOG_LEVEL: env.logLevel(),
  STARTUP_TIMEOUT_MS: env.positiveInt(
    30_000,
    'how long to retry unreachable PostgreSQL or Kafka at start-up before exiting',
  ),
  SHUTDOWN_TIMEOUT_MS: env.positiveInt(10_000, 'drain budget after SIGTERM or SIGINT'),
});

/** Variables of the services that own a database, consume Kafka and serve gRPC. */
export const backendConfig = (grpcPort: number, httpPort: number) => ({
  ...commonConfig(httpPort),
  GRPC_PORT: env.port(grpcPort, 'gRPC port'),
  DATABASE_URL: env.postgresUrl("this service's own PostgreSQL database (its own role and password)"),
  DATABASE_POOL_MAX: env.positiveInt(10, 'PostgreSQL pool size'),
  KAFKA_BROKERS: env.brokers('Kafka bootstrap brokers, comma-separated host:port'),
});

type Common = z.infer<z.ZodObject<ReturnType<typeof commonConfig>>>;
type Backend = z.infer<z.ZodObject<ReturnType<typeof backendConfig>>>;

export interface BackendContext {
  logger: Logger;
  metrics: Metrics;
  pool: Pool;
  bus: MessageBus;
  relay: OutboxRelay;
}

export interface BackendParts {
  migrationsDirs: string[];
  grpcServices: (ctx: BackendContext) => GrpcServerOptions['services'];
  consumers: (ctx: BackendContext) => SubscribeOptions[];
  /** Runs after migrations, before consumers and the gRPC server (seed data, background jobs). */
  onStart?: (ctx: BackendContext) => Promise<void>;
  /** Runs first on stop, while the pool and the bus are still open. */
  onStop?: (ctx: BackendContext) => Promise<void>;
}

export interface RunningService {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Bound ports, known after start (tests use port 0). */
  readonly ports: { http: number; grpc: number };
  readonly ctx: BackendContext;
}

export function startupLogger(name: string, config: Common): Logger {
  return createLogger(name, config.LOG_LEVEL);
}

/**
 * The composition shared by orders, inventory and payments. Start: probes first (not ready), then PostgreSQL
 * (retried with backoff up to STARTUP_TIMEOUT_MS) and migrations, Kafka, consumers and the outbox relay, and only
 * then the gRPC server and readiness. Stop: not ready, stop accepting and drain gRPC, close consumers, flush the
 * relay, close the producer and the pool.
 */
export function createBackend(
  name: string,
  config: Backend,
  parts: BackendParts,
  logger = startupLogger(name, config),
): RunningService {
  const metrics = createMetrics(name);
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_MAX, logger);
  const bus = createKafkaBus({
    brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    clientId: name,
    logger,
  });
  const relay = new OutboxRelay({ pool, bus, logger, metrics });
  const ctx: BackendContext = { logger, metrics, pool, bus, relay };
  const consumerGroups: { groupId: string; topics: string[] }[] = [];
  let http: HttpServer | undefined;
  let grpcServer: RunningGrpcServer | undefined;
  let gauges: NodeJS.Timeout | undefined;
  const ports = { http: 0, grpc: 0 };
  const abort = new AbortController();

  metrics.db.max.set(config.DATABASE_POOL_MAX);
  const sample = async () => {
    metrics.db.total.set(pool.totalCount);
    metrics.db.idle.set(pool.idleCount);
    metrics.db.waiting.set(pool.waitingCount);
    await relay.observe();
    for (const g of consumerGroups) {
      for (const l of await bus.lag(g.groupId, g.topics))
        metrics.messaging.lag.set({ topic: l.topic, partition: String(l.partition) }, l.lag);
    }
  };

  return {
    ports,
    ctx,
    async start() {
      http = createHttpServer({
        logger,
        metrics,
        readiness: {
          postgres: async () => {
            await pool.query('SELECT 1');
          },
          kafka: () => bus.ping(),
        },
      });
      ports.http = await http.listen(config.BIND_HOST, config.HTTP_PORT, 'HTTP_PORT');
      await waitForDatabase(pool, config.STARTUP_TIMEOUT_MS, logger);
      await migrate(pool, parts.migrationsDirs, logger);
      await waitForKafka(bus, config.STARTUP_TIMEOUT_MS, logger);
      await parts.onStart?.(ctx);
      for (const c of parts.consumers(ctx)) {
        const onOutcome = c.onOutcome;
        await bus.subscribe({
          ...c,
          onOutcome: (topic, outcome) => {
            metrics.messaging.consumed.inc({ topic, outcome });
            onOutcome?.(topic, outcome);
          },
        });
        consumerGroups.push({ groupId: c.groupId, topics: c.topics });
      }
      relay.start();
      grpcServer = await startGrpcServer(
        { services: parts.grpcServices(ctx), metrics, logger },
        config.BIND_HOST,
        config.GRPC_PORT,
        'GRPC_PORT',
      );
      ports.grpc = grpcServer.port;
      grpcServer.setServing(true);
      http.setReady(true);
      gauges = setInterval(() => {
        sample().catch((err: unknown) => logger.debug({ err: errorMessage(err) }, 'metrics sampling failed'));
      }, 5000);
      gauges.unref();
      void sample().catch(() => undefined);
      logger.info({ grpcPort: ports.grpc, httpPort: ports.http }, `${name} ready`);
    },
    async stop() {
      abort.abort();
      if (gauges) clearInterval(gauges);
      http?.setReady(false);
      await parts
        .onStop?.(ctx)
        .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'onStop failed'));
      await grpcServer?.stop(Math.max(1000, config.SHUTDOWN_TIMEOUT_MS / 2));
      await http?.close();
      await relay.stop();
      await bus.close();
      await pool.end().catch(() => undefined);
    },
  };
}

export interface GatewayContext {
  logger: Logger;
  metrics: Metrics;
}

/** The gateway's composition: HTTP only, readiness from its upstreams' gRPC health. */
export function createEdge(
  name: string,
  config: Common,
  routes: (app: FastifyInstance, ctx: GatewayContext) => void,
  readiness: Record<string, () => Promise<void>>,
  opts: {
    logger?: Logger;
    onStop?: () => Promise<void>;
    bodyLimit?: number;
    http?: Pick<HttpServerOptions, 'frameworkErrors' | 'requireHostHeader'>;
  } = {},
): RunningService & { readonly gateway: GatewayContext } {
  const logger = opts.logger ?? startupLogger(name, config);
  const metrics = createMetrics(name);
  const ports = { http: 0, grpc: 0 };
  let http: HttpServer | undefined;
  const gctx = { logger, metrics };
  return {
    ports,
    gateway: gctx,
    get ctx(): BackendContext {
      throw new Error('the gateway has no database or Kafka context');
    },
    async start() {
      http = createHttpServer({
        logger,
        metrics,
        readiness,
        ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
        ...opts.http,
      });
      routes(http.app, gctx);
      ports.http = await http.listen(config.BIND_HOST, config.HTTP_PORT, 'HTTP_PORT');
      http.setReady(true);
      logger.info({ httpPort: ports.http }, `${name} ready`);
    },
    async stop() {
      http?.setReady(false);
      await http?.close();
      await opts.onStop?.();
    },
  };
}
