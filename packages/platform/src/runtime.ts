import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { env } from './config';
import type { Pool, Tx } from './db';
import { checkMigrations, createPool, migrate, waitForDatabase } from './db';
import type { RunningGrpcServer, GrpcServerOptions } from './grpc';
import { startGrpcServer } from './grpc';
import type { HttpServer, HttpServerOptions } from './http';
import { createHttpServer } from './http';
import type { MessageBus, SubscribeOptions } from './kafka';
import { CONSUME_OUTCOMES, CONSUMER_SESSION_TIMEOUT_MS, createKafkaBus, waitForKafka } from './kafka';
import type { Logger } from './logger';
import { createLogger, setRoutingHeaders } from './logger';
import { OutboxRelay } from './messaging';
import type { Metrics } from './metrics';
import { capSeries, createMetrics } from './metrics';
import { errorMessage } from './retry';
import type { DependencySettings } from './resilience';
import { DEFAULT_DEPENDENCY_SETTINGS } from './resilience';
import type { AdminServer } from './admin';
import { createAdminServer } from './admin';
import { FaultRegistry, faultsVariable, instrumentBus, instrumentPool } from './faults';
import { GrpcTls, tlsFilesOf } from './tls';

/** The OpenTelemetry SDK's standard sampler names (OTEL_TRACES_SAMPLER). */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** The trace exporters the OpenTelemetry SDK builds from OTEL_TRACES_EXPORTER (@shop/telemetry). */
export const TRACES_EXPORTERS = ['otlp', 'zipkin', 'console', 'none'] as const;

/**
 * Variables every service has; each service schema spreads these and adds its own. The telemetry variables are read
 * by the SDK before this schema runs (`--require ./dist/src/instrumentation.js`); they are declared here so that a
 * bad value stops the service at start-up with the others, and `--help` lists them.
 */
export const commonConfig = (httpPort: number) => ({
  BIND_HOST: env.host('127.0.0.1', 'address the HTTP and gRPC servers bind to (0.0.0.0 in containers)'),
  HTTP_PORT: env.port(httpPort, 'HTTP port for probes (/livez, /readyz) and /metrics'),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_TIMEOUT_MS: env.positiveInt(10_000, 'drain budget after SIGTERM or SIGINT'),
  SHUTDOWN_DRAIN_DELAY_MS: env.nonNegativeInt(
    0,
    'after SIGTERM, keep serving this long with /readyz answering 503 before closing the listeners, in ms (0: close at once); set it above the time the load balancer takes to drop the endpoint (capped at half of SHUTDOWN_TIMEOUT_MS)',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: env.optionalHttpUrl(
    'export traces over OTLP http/protobuf to this collector (unset: nothing is exported)',
  ),
  OTEL_TRACES_EXPORTER: env.optionalList(
    TRACES_EXPORTERS,
    'where spans go, comma-separated: otlp (OTEL_EXPORTER_OTLP_ENDPOINT), zipkin (OTEL_EXPORTER_ZIPKIN_ENDPOINT), console, none (unset: otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none)',
  ),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: env.optionalHttpUrl(
    'with OTEL_TRACES_EXPORTER=zipkin, the Zipkin v2 span endpoint (unset: http://localhost:9411/api/v2/spans; `npm start -- --traces` sets it)',
  ),
  OTEL_TRACES_SAMPLER: env.optionalEnum(
    TRACES_SAMPLERS,
    'trace sampler (unset: parentbased_always_on, every trace sampled)',
  ),
  OTEL_TRACES_SAMPLER_ARG: env.optionalRatio('sampling ratio of the traceidratio samplers, 0 to 1'),
  DEPLOYMENT_ENVIRONMENT: env.string('local', 'deployment.environment.name resource attribute of every span'),
  METRICS_MAX_SERIES_PER_METRIC: env.nonNegativeInt(
    500,
    'label sets one metric may hold; new ones beyond it are dropped and counted in metrics_series_dropped_total (0: no cap)',
  ),
  ADMIN_PORT: env.optionalPort(
    'port of the fault admin API (GET/PUT/DELETE /faults), always bound to 127.0.0.1; unset: no admin API',
  ),
  FAULTS: faultsVariable(),
  ROUTING_HEADERS: env.headerNames(
    ['x-canary'],
    'request headers passed on, as gRPC metadata, to every service this one calls, so that the mesh routes those calls by them too (the canary header; comma-separated, lowercase)',
  ),
  GRPC_TLS_CERT_FILE: env.optionalString(
    'PEM certificate (chain) this service presents on gRPC, as server and as client; with GRPC_TLS_KEY_FILE and GRPC_TLS_CA_FILE it turns on mutual TLS (all three or none; unset: plaintext)',
  ),
  GRPC_TLS_KEY_FILE: env.optionalString('PEM private key of GRPC_TLS_CERT_FILE'),
  GRPC_TLS_CA_FILE: env.optionalString(
    'PEM CA bundle trusted for gRPC peers (servers and clients); during a CA rotation it holds the old and the new CA',
  ),
  GRPC_TLS_RELOAD_MS: env.positiveInt(
    1000,
    'with TLS, how often the three files are read again; a changed, valid set is used for new handshakes without a restart',
  ),
  GRPC_TLS_MAX_CONNECTION_AGE_MS: env.positiveInt(
    300_000,
    'with TLS, a gRPC server closes each connection after this long (GOAWAY; in-flight calls finish) so that rotated certificates are used by both ends',
  ),
});

/** Variables of the services that own a database, consume Kafka and serve gRPC. */
export const backendConfig = (grpcPort: number, httpPort: number) => ({
  ...commonConfig(httpPort),
  STARTUP_TIMEOUT_MS: env.positiveInt(
    30_000,
    'how long to retry unreachable PostgreSQL or Kafka at start-up before exiting',
  ),
  GRPC_PORT: env.port(grpcPort, 'gRPC port'),
  DATABASE_URL: env.postgresUrl("this service's own PostgreSQL database (its own role and password)"),
  DATABASE_POOL_MAX: env.positiveInt(10, 'PostgreSQL pool size'),
  DATABASE_STATEMENT_TIMEOUT_MS: env.nonNegativeInt(
    0,
    'PostgreSQL statement_timeout of every connection, in ms (0: none); bounds how long a slow statement holds a pool client',
  ),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: env.nonNegativeInt(
    0,
    'PostgreSQL idle_in_transaction_session_timeout, in ms (0: none); ends transactions left open',
  ),
  DATABASE_POOL_CHECKOUT_TIMEOUT_MS: env.positiveInt(
    5000,
    'how long a query waits for a free pool client before failing, in ms',
  ),
  KAFKA_BROKERS: env.brokers('Kafka bootstrap brokers, comma-separated host:port'),
  KAFKA_CONSUMERS: env.choice(
    ['on', 'off'],
    'on',
    "on: consume this service's saga topics in its consumer group; off: consume nothing (a canary: the stable pods alone consume, the outbox is still published)",
  ),
  DATABASE_MIGRATIONS: env.choice(
    ['apply', 'check'],
    'apply',
    'apply: run the pending migrations at start; check: apply none and refuse to start while one is pending (a canary: the stable release migrates the shared schema)',
  ),
  KAFKA_SESSION_TIMEOUT_MS: env.boundedInt(
    CONSUMER_SESSION_TIMEOUT_MS,
    1000,
    300_000,
    'Kafka consumer session timeout, in ms (heartbeat every third of it): above the longest time one message may take, network latency included, and well below SAGA_STEP_TIMEOUT_MS',
  ),
});

/** Variables of a service that calls others over gRPC (gateway, orders): deadline, retries, breaker, bulkhead. */
export const clientConfig = () => ({
  GRPC_DEADLINE_MS: env.positiveInt(
    2000,
    "deadline of every outgoing gRPC call, in milliseconds (shortened to the incoming call's deadline)",
  ),
  GRPC_RETRY_MAX_ATTEMPTS: env.boundedInt(
    DEFAULT_DEPENDENCY_SETTINGS.retry.maxAttempts,
    1,
    5,
    'attempts of a read-only gRPC call on UNAVAILABLE, the first included, with randomised backoff and a retry budget (1: no retries)',
  ),
  GRPC_BREAKER_FAILURES: env.nonNegativeInt(
    DEFAULT_DEPENDENCY_SETTINGS.breakerFailures,
    'consecutive failures of a dependency that open its circuit breaker (0: no breaker)',
  ),
  GRPC_BREAKER_HALF_OPEN_MS: env.positiveInt(
    DEFAULT_DEPENDENCY_SETTINGS.breakerHalfOpenMs,
    'how long an open circuit fails fast before a trial call',
  ),
  GRPC_BULKHEAD_MAX: env.nonNegativeInt(
    DEFAULT_DEPENDENCY_SETTINGS.bulkheadMax,
    'concurrent calls to one dependency (0: no limit)',
  ),
  GRPC_BULKHEAD_QUEUE: env.nonNegativeInt(
    DEFAULT_DEPENDENCY_SETTINGS.bulkheadQueue,
    'calls waiting for a slot of a full bulkhead before they fail with UNAVAILABLE',
  ),
});

type Client = z.infer<z.ZodObject<ReturnType<typeof clientConfig>>>;

/** The resilience settings of every dependency of a service, from its clientConfig variables. */
export function dependencySettings(config: Client): DependencySettings {
  return {
    breakerFailures: config.GRPC_BREAKER_FAILURES,
    breakerHalfOpenMs: config.GRPC_BREAKER_HALF_OPEN_MS,
    bulkheadMax: config.GRPC_BULKHEAD_MAX,
    bulkheadQueue: config.GRPC_BULKHEAD_QUEUE,
    retry: { ...DEFAULT_DEPENDENCY_SETTINGS.retry, maxAttempts: config.GRPC_RETRY_MAX_ATTEMPTS },
  };
}

type Common = z.infer<z.ZodObject<ReturnType<typeof commonConfig>>>;
type Backend = z.infer<z.ZodObject<ReturnType<typeof backendConfig>>>;

export interface BackendContext {
  /** The service's name: logs, metrics prefix, Kafka client id. */
  name: string;
  logger: Logger;
  metrics: Metrics;
  pool: Pool;
  bus: MessageBus;
  relay: OutboxRelay;
  faults: FaultRegistry;
  /** gRPC mTLS of this service (GRPC_TLS_*); undefined: plaintext. */
  tls?: GrpcTls;
}

export interface BackendParts {
  migrationsDirs: string[];
  grpcServices: GrpcServerOptions['services'];
  consumers: SubscribeOptions[];
  /** Topics this service's outbox publishes to (their publish counters exist from the start, at 0). */
  publishes: readonly string[];
  /** Runs after migrations, before consumers and the gRPC server (seed data, background jobs). */
  onStart?: () => Promise<void>;
  /** Routes of the service's own on its admin API (when ADMIN_PORT is set). */
  adminRoutes?: AdminRoutes;
  /**
   * Runs on stop once nothing comes in any more (gRPC drained, consumers gone) and the relay has published what was
   * committed; the pool and the producer are still open (background jobs, clients of other services).
   */
  onStop?: () => Promise<void>;
}

export interface RunningService {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Bound ports, known after start (tests use port 0); admin is 0 without ADMIN_PORT. */
  readonly ports: { http: number; grpc: number; admin: number };
  readonly ctx: BackendContext;
  readonly faults: FaultRegistry;
}

/** The cardinality cap on the service's metrics, then its fault registry with the faults of FAULTS switched on. */
function startFaults(name: string, config: Common, logger: Logger, metrics: Metrics): FaultRegistry {
  capSeries(metrics.registry, config.METRICS_MAX_SERIES_PER_METRIC);
  const faults = new FaultRegistry(name, logger, metrics);
  faults.applyAll(config.FAULTS);
  // Like the faults, set once per process at start: what the HTTP and gRPC servers put in each request's context.
  setRoutingHeaders(config.ROUTING_HEADERS);
  return faults;
}

/** The service's gRPC TLS when GRPC_TLS_* are set (loadConfig has checked the files already). */
function startTls(
  config: Common,
  logger: Logger,
  metrics: Metrics,
  faults: FaultRegistry,
): GrpcTls | undefined {
  const files = tlsFilesOf(config);
  if (!files) return undefined;
  const tls = new GrpcTls({
    files,
    reloadMs: config.GRPC_TLS_RELOAD_MS,
    maxConnectionAgeMs: config.GRPC_TLS_MAX_CONNECTION_AGE_MS,
    logger,
    registry: metrics.registry,
    faults,
  });
  const leaf = tls.provider.current.leaf;
  logger.info(
    { code: 'TLS_ON', serial: leaf.serialNumber, subject: leaf.subject || '(empty)', validTo: leaf.validTo },
    'gRPC mutual TLS on',
  );
  return tls;
}

/** Routes a service adds to its admin API beside the faults (orders: parked sagas; gateway: the running lab). */
export type AdminRoutes = (app: FastifyInstance) => void;

async function startAdmin(config: Common, faults: FaultRegistry, logger: Logger, extra?: AdminRoutes) {
  if (config.ADMIN_PORT === undefined) return { server: undefined, port: 0 };
  const server = createAdminServer(faults, logger);
  extra?.(server.app);
  const port = await server.listen(config.ADMIN_PORT);
  logger.info({ adminPort: port }, 'fault admin API listening on 127.0.0.1');
  return { server, port };
}

/**
 * The first step of a drain: not ready, yet still serving, for SHUTDOWN_DRAIN_DELAY_MS. A load balancer (kube-proxy's
 * endpoints, a mesh's or another cluster's endpoint set) drops a terminating endpoint only after it has seen it not
 * ready; closing the listeners before that refuses or resets the requests it still sends (what a Kubernetes preStop
 * sleep is for).
 */
async function drainDelay(config: Common, logger: Logger, setReady: (ready: boolean) => void) {
  setReady(false);
  const ms = Math.min(config.SHUTDOWN_DRAIN_DELAY_MS, config.SHUTDOWN_TIMEOUT_MS / 2);
  if (ms <= 0) return;
  logger.info(
    { drainDelayMs: ms, code: 'DRAIN_DELAY' },
    'not ready; serving on until the endpoint is dropped',
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export function startupLogger(name: string, config: Common): Logger {
  return createLogger(name, config.LOG_LEVEL);
}

/**
 * The shared parts of a backend, built and not yet connected: metrics, faults, the PostgreSQL pool, the Kafka bus,
 * the outbox relay and gRPC TLS. A service's composition root builds this first, then its own parts on top of it,
 * then hands both to createBackend.
 */
export function backendContext(
  name: string,
  config: Backend,
  logger = startupLogger(name, config),
  opts: {
    /** Runs in the outbox relay's transaction after the broker acknowledged these messages (see RelayOptions). */
    onPublished?: (tx: Tx, published: { topic: string; key: string }[]) => Promise<void>;
  } = {},
): BackendContext {
  const metrics = createMetrics(name);
  const faults = startFaults(name, config, logger, metrics);
  const pool = instrumentPool(
    createPool(config.DATABASE_URL, config.DATABASE_POOL_MAX, logger, {
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      checkoutTimeoutMs: config.DATABASE_POOL_CHECKOUT_TIMEOUT_MS,
    }),
    faults,
  );
  const bus = instrumentBus(
    createKafkaBus({
      brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()),
      clientId: name,
      logger,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    }),
    faults,
  );
  const relay = new OutboxRelay({
    pool,
    bus,
    logger,
    metrics,
    // Woken by the commits' notifications, on its own connection (one more than DATABASE_POOL_MAX).
    listenUrl: config.DATABASE_URL,
    ...(opts.onPublished ? { onPublished: opts.onPublished } : {}),
  });
  const tls = startTls(config, logger, metrics, faults);
  return { name, logger, metrics, pool, bus, relay, faults, ...(tls ? { tls } : {}) };
}

/**
 * The life cycle shared by orders, inventory and payments. Start: probes first (not ready), then PostgreSQL
 * (retried with backoff up to STARTUP_TIMEOUT_MS) and migrations, Kafka, consumers and the outbox relay, and only
 * then the gRPC server and readiness. Stop, in the order of docs/architecture.md ("Service runtime"): not ready, stop
 * accepting and drain the gRPC calls in flight, the consumers leave their groups, the relay publishes what is
 * committed and stops, then onStop (background jobs, clients of other services), the producer and the pool.
 * Every call in flight keeps what it uses until it has answered: a PlaceOrder draining still quotes and commits.
 */
export function createBackend(config: Backend, ctx: BackendContext, parts: BackendParts): RunningService {
  const { name, logger, metrics, pool, bus, relay, faults, tls } = ctx;
  let admin: AdminServer | undefined;
  const consumerGroups: { groupId: string; topics: string[] }[] = [];
  let http: HttpServer | undefined;
  let grpcServer: RunningGrpcServer | undefined;
  let gauges: NodeJS.Timeout | undefined;
  const ports = { http: 0, grpc: 0, admin: 0 };
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
    faults,
    async start() {
      ({ server: admin, port: ports.admin } = await startAdmin(config, faults, logger, parts.adminRoutes));
      http = createHttpServer({
        logger,
        metrics,
        faults,
        readiness: {
          postgres: async () => {
            await pool.query('SELECT 1');
          },
          kafka: () => bus.ping(),
          consumers: () => bus.consumersAlive(),
        },
      });
      ports.http = await http.listen(config.BIND_HOST, config.HTTP_PORT, 'HTTP_PORT');
      await waitForDatabase(pool, config.STARTUP_TIMEOUT_MS, logger);
      if (config.DATABASE_MIGRATIONS === 'apply') await migrate(pool, parts.migrationsDirs, logger);
      else await checkMigrations(pool, parts.migrationsDirs, logger);
      await waitForKafka(bus, config.STARTUP_TIMEOUT_MS, logger);
      await parts.onStart?.();
      if (config.KAFKA_CONSUMERS === 'off')
        logger.info(
          { code: 'CONSUMERS_OFF', groups: parts.consumers.map((c) => c.groupId) },
          'KAFKA_CONSUMERS=off: joining no consumer group',
        );
      for (const c of config.KAFKA_CONSUMERS === 'on' ? parts.consumers : []) {
        const onOutcome = c.onOutcome;
        await bus.subscribe({
          ...c,
          onOutcome: (topic, outcome) => {
            metrics.messaging.consumed.inc({ topic, outcome });
            onOutcome?.(topic, outcome);
          },
        });
        consumerGroups.push({ groupId: c.groupId, topics: c.topics });
        for (const topic of c.topics)
          for (const outcome of CONSUME_OUTCOMES) metrics.messaging.consumed.inc({ topic, outcome }, 0);
      }
      for (const topic of parts.publishes) {
        metrics.messaging.published.inc({ topic }, 0);
        metrics.messaging.publishFailures.inc({ topic }, 0);
      }
      relay.start();
      grpcServer = await startGrpcServer(
        { services: parts.grpcServices, metrics, logger, faults, ...(tls ? { tls } : {}) },
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
      if (http) await drainDelay(config, logger, (r) => http?.setReady(r));
      await grpcServer?.stop(Math.max(1000, config.SHUTDOWN_TIMEOUT_MS / 2));
      await http?.close();
      await bus.stopConsumers();
      await relay.stop();
      await parts
        .onStop?.()
        .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'onStop failed'));
      await bus.close();
      await pool.end().catch(() => undefined);
      tls?.close();
      faults.clearAll();
      await admin?.close();
    },
  };
}

export interface GatewayContext {
  logger: Logger;
  metrics: Metrics;
  faults: FaultRegistry;
  /** gRPC mTLS towards the upstreams (GRPC_TLS_*); undefined: plaintext. */
  tls?: GrpcTls;
}

/** The gateway's composition: HTTP only, readiness from its upstreams' gRPC health. */
export function createEdge(
  name: string,
  config: Common,
  routes: (app: FastifyInstance, ctx: GatewayContext) => void,
  /** Readiness checks, or a function of the context building them (a check calling upstreams needs ctx.tls). */
  readiness:
    Record<string, () => Promise<void>> | ((ctx: GatewayContext) => Record<string, () => Promise<void>>),
  opts: {
    logger?: Logger;
    onStop?: () => Promise<void>;
    bodyLimit?: number;
    http?: Pick<HttpServerOptions, 'frameworkErrors' | 'requireHostHeader' | 'readyWhen'>;
    adminRoutes?: AdminRoutes;
  } = {},
): RunningService & { readonly gateway: GatewayContext } {
  const logger = opts.logger ?? startupLogger(name, config);
  const metrics = createMetrics(name);
  const faults = startFaults(name, config, logger, metrics);
  const ports = { http: 0, grpc: 0, admin: 0 };
  let http: HttpServer | undefined;
  let admin: AdminServer | undefined;
  const tls = startTls(config, logger, metrics, faults);
  const gctx: GatewayContext = { logger, metrics, faults, ...(tls ? { tls } : {}) };
  return {
    ports,
    gateway: gctx,
    faults,
    get ctx(): BackendContext {
      throw new Error('the gateway has no database or Kafka context');
    },
    async start() {
      ({ server: admin, port: ports.admin } = await startAdmin(config, faults, logger, opts.adminRoutes));
      http = createHttpServer({
        logger,
        metrics,
        faults,
        readiness: typeof readiness === 'function' ? readiness(gctx) : readiness,
        ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
        ...opts.http,
      });
      routes(http.app, gctx);
      ports.http = await http.listen(config.BIND_HOST, config.HTTP_PORT, 'HTTP_PORT');
      http.setReady(true);
      logger.info({ httpPort: ports.http }, `${name} ready`);
    },
    async stop() {
      if (http) await drainDelay(config, logger, (r) => http?.setReady(r));
      await http?.close();
      await opts.onStop?.();
      tls?.close();
      faults.clearAll();
      await admin?.close();
    },
  };
}
