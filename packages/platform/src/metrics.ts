import { trace, TraceFlags } from '@opentelemetry/api';
import client from 'prom-client';
import { registerCgroupMetrics } from './cgroup';

export type Registry = client.Registry<client.OpenMetricsContentType>;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10];
const SAGA_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60];

/**
 * Every metric the platform exports, created once per service registry (docs/metrics.md is the catalog).
 * Label values are bounded: method and route templates, status codes, topics, outcomes; never ids.
 */
export function createMetrics(service: string) {
  // OpenMetrics exposition: the format that carries exemplars (trace ids on histogram buckets).
  const registry = new client.Registry<client.OpenMetricsContentType>();
  registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
  // Beside process_cpu_seconds_total: the limit it runs under and how often that limit throttled it.
  registerCgroupMetrics(registry);
  const r = [registry];
  const grpcLabels = ['grpc_service', 'grpc_method', 'grpc_code'] as const;
  return {
    registry,
    http: {
      requests: new client.Counter({
        name: 'http_requests_total',
        help: 'HTTP requests served',
        labelNames: ['method', 'route', 'status_code'],
        registers: r,
      }),
      duration: new client.Histogram({
        name: 'http_request_duration_seconds',
        help: 'HTTP request duration',
        labelNames: ['method', 'route', 'status_code'],
        buckets: LATENCY_BUCKETS,
        enableExemplars: true,
        registers: r,
      }),
    },
    grpcServer: {
      handled: new client.Counter({
        name: 'grpc_server_handled_total',
        help: 'gRPC calls completed by this server',
        labelNames: grpcLabels,
        registers: r,
      }),
      duration: new client.Histogram({
        name: 'grpc_server_handling_seconds',
        help: 'gRPC server handling time',
        labelNames: grpcLabels,
        buckets: LATENCY_BUCKETS,
        enableExemplars: true,
        registers: r,
      }),
    },
    grpcClient: {
      handled: new client.Counter({
        name: 'grpc_client_handled_total',
        help: 'gRPC calls made by this service',
        labelNames: grpcLabels,
        registers: r,
      }),
      duration: new client.Histogram({
        name: 'grpc_client_handling_seconds',
        help: 'gRPC client call time, from send to status',
        labelNames: grpcLabels,
        buckets: LATENCY_BUCKETS,
        enableExemplars: true,
        registers: r,
      }),
    },
    messaging: {
      outboxPending: new client.Gauge({
        name: 'outbox_pending_messages',
        help: 'Outbox rows not yet published',
        registers: r,
      }),
      outboxOldestAge: new client.Gauge({
        name: 'outbox_oldest_pending_age_seconds',
        help: 'Age of the oldest unpublished outbox row',
        registers: r,
      }),
      published: new client.Counter({
        name: 'outbox_published_total',
        help: 'Outbox messages acknowledged by the broker',
        labelNames: ['topic'],
        registers: r,
      }),
      publishFailures: new client.Counter({
        name: 'outbox_publish_failures_total',
        help: 'Failed outbox publish attempts',
        labelNames: ['topic'],
        registers: r,
      }),
      consumed: new client.Counter({
        name: 'messages_consumed_total',
        help: 'Messages consumed, by outcome',
        labelNames: ['topic', 'outcome'],
        registers: r,
      }),
      lag: new client.Gauge({
        name: 'kafka_consumer_lag',
        help: 'Messages behind the end of the partition for this service consumer group',
        labelNames: ['topic', 'partition'],
        registers: r,
      }),
    },
    resilience: {
      breakerState: new client.Gauge({
        name: 'circuit_breaker_state',
        help: 'Circuit breaker towards a dependency: 0 closed, 1 open, 2 half-open',
        labelNames: ['dependency'],
        registers: r,
      }),
      breakerTransitions: new client.Counter({
        name: 'circuit_breaker_transitions_total',
        help: 'Circuit breaker state changes, by the state entered',
        labelNames: ['dependency', 'to'],
        registers: r,
      }),
      breakerRejected: new client.Counter({
        name: 'circuit_breaker_rejected_total',
        help: 'Calls failed fast because the circuit to the dependency was open',
        labelNames: ['dependency'],
        registers: r,
      }),
      bulkheadRejected: new client.Counter({
        name: 'bulkhead_rejected_total',
        help: 'Calls refused because the concurrency limit towards the dependency was reached',
        labelNames: ['dependency'],
        registers: r,
      }),
    },
    db: {
      total: new client.Gauge({
        name: 'db_pool_clients_total',
        help: 'PostgreSQL pool clients (idle and in use)',
        registers: r,
      }),
      idle: new client.Gauge({
        name: 'db_pool_clients_idle',
        help: 'Idle PostgreSQL pool clients',
        registers: r,
      }),
      waiting: new client.Gauge({
        name: 'db_pool_clients_waiting',
        help: 'Queries waiting for a PostgreSQL pool client',
        registers: r,
      }),
      max: new client.Gauge({
        name: 'db_pool_clients_max',
        help: 'Configured PostgreSQL pool size',
        registers: r,
      }),
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The saga metrics, registered only by the saga's orchestrator (orders) in its service registry: the other services
 * do not export them, so a query never mixes in their empty series.
 */
export function createSagaMetrics(registry: Registry) {
  const r = [registry];
  return {
    started: new client.Counter({ name: 'saga_started_total', help: 'Order sagas started', registers: r }),
    completed: new client.Counter({
      name: 'saga_completed_total',
      help: 'Order sagas that reached a terminal state',
      labelNames: ['outcome', 'reason'],
      registers: r,
    }),
    duration: new client.Histogram({
      name: 'saga_duration_seconds',
      help: 'Time from order placed to terminal state',
      labelNames: ['outcome'],
      buckets: SAGA_BUCKETS,
      enableExemplars: true,
      registers: r,
    }),
    stepDuration: new client.Histogram({
      name: 'saga_step_duration_seconds',
      help: 'Time from a saga command to its reply',
      labelNames: ['step', 'outcome'],
      buckets: SAGA_BUCKETS,
      enableExemplars: true,
      registers: r,
    }),
    inFlight: new client.Gauge({
      name: 'saga_in_flight',
      help: 'Sagas not yet in a terminal state',
      registers: r,
    }),
    overdue: new client.Gauge({
      name: 'saga_overdue',
      help: 'Sagas in flight past their step deadline',
      registers: r,
    }),
    compensations: new client.Counter({
      name: 'saga_compensations_total',
      help: 'Compensating actions started',
      labelNames: ['step'],
      registers: r,
    }),
    parked: new client.Gauge({
      name: 'saga_compensation_failures_parked',
      help: 'Compensations that kept failing and wait for an operator',
      registers: r,
    }),
  };
}

export type SagaMetrics = ReturnType<typeof createSagaMetrics>;

/**
 * Observes a histogram value with the active trace id as exemplar, so a slow bucket links to a trace that fell in
 * it. Without an active (sampled) span it is a plain observation.
 */
export function observeWithExemplar<L extends string>(
  histogram: client.Histogram<L>,
  labels: client.LabelValues<L>,
  seconds: number,
): void {
  const ctx = trace.getActiveSpan()?.spanContext();
  if (ctx && (ctx.traceFlags & TraceFlags.SAMPLED) !== 0) {
    // prom-client types exemplar labels with the metric's label names; exemplars have their own.
    const exemplarLabels: Record<string, string> = { trace_id: ctx.traceId, span_id: ctx.spanId };
    histogram.observe({ labels, value: seconds, exemplarLabels: exemplarLabels as client.LabelValues<L> });
  } else {
    // With exemplars enabled prom-client binds observe() to its object form only.
    histogram.observe({ labels, value: seconds });
  }
}

/** The trace id of the active span when it is sampled (its trace is exported), else undefined. */
export function sampledTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && (ctx.traceFlags & TraceFlags.SAMPLED) !== 0 ? ctx.traceId : undefined;
}

type Capped = { name: string; type?: string; hashMap?: Record<string, unknown> } & Record<string, unknown>;

/**
 * The name a metric is scraped under. prom-client renames a counter in place (drops `_total`) the first time its
 * registry serves OpenMetrics, which Prometheus asks for, and adds the suffix back when it writes the text: the label
 * must not depend on whether a Prometheus has scraped yet.
 */
const exposedName = (m: Capped): string =>
  m.type === 'counter' ? `${m.name.replace(/_total$/, '')}_total` : m.name;
const RECORDING_METHODS = ['inc', 'dec', 'set', 'observe'] as const;

/**
 * A cardinality guard on every metric of a registry, those registered later included: a metric holds at most
 * `maxSeries` label sets; a new label set beyond that is dropped (not recorded) and counted in
 * `metrics_series_dropped_total{metric}`, so an id put in a label by mistake cannot grow the scrape without bound.
 * 0: no cap. prom-client keeps a metric's series in `hashMap`, insertion-ordered: the new one is the last key.
 */
export function capSeries(registry: Registry, maxSeries: number): void {
  if (maxSeries <= 0) return;
  const dropped = new client.Counter({
    name: 'metrics_series_dropped_total',
    help: 'New label sets not recorded because their metric already held METRICS_MAX_SERIES_PER_METRIC series',
    labelNames: ['metric'],
    registers: [registry],
  });
  const wrap = (original: (...a: unknown[]) => unknown) =>
    function capped(this: Capped, ...args: unknown[]) {
      const before = this.hashMap ? Object.keys(this.hashMap).length : 0;
      const out = original.apply(this, args);
      const map = this.hashMap;
      if (map && before >= maxSeries) {
        const keys = Object.keys(map);
        if (keys.length > before) {
          for (const k of keys.slice(before)) Reflect.deleteProperty(map, k);
          dropped.inc({ metric: exposedName(this) });
        }
      }
      return out;
    };
  const guard = (metric: Capped) => {
    if ((metric as unknown) === dropped) return;
    for (const method of RECORDING_METHODS) {
      const current = metric[method];
      // An accessor, because prom-client's constructors assign some methods (Counter's inc) after registering.
      let wrapped = typeof current === 'function' ? wrap(current as (...a: unknown[]) => unknown) : undefined;
      Object.defineProperty(metric, method, {
        configurable: true,
        get: () => wrapped,
        set: (fn: unknown) => {
          wrapped = typeof fn === 'function' ? wrap(fn as (...a: unknown[]) => unknown) : undefined;
        },
      });
    }
  };
  for (const m of registry.getMetricsAsArray()) guard(m as unknown as Capped);
  const register = registry.registerMetric.bind(registry);
  registry.registerMetric = (metric) => {
    register(metric);
    guard(metric as unknown as Capped);
  };
}
