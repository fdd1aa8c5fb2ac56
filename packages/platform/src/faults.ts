// The fault layer (issue 8, incident labs): named, typed faults, off by default, set from FAULTS at start and
// switched at runtime through the admin API (admin.ts). Every active fault is visible: the
// `fault_injection_active{fault}` gauge, a log line when it is switched, and a span event where it acts.
// A small typed registry rather than the OpenFeature SDK: see docs/architecture.md ("Fault layer").
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { trace } from '@opentelemetry/api';
import { NEXT_VERSIONS, decodeEnvelope } from '@shop/contracts';
import * as grpc from '@grpc/grpc-js';
import client from 'prom-client';
import { z } from 'zod';
import type { PoolClient } from 'pg';
import type { Pool } from './db';
import type { MessageBus, OutgoingRecord } from './kafka';
import type { Logger } from './logger';
import { requestContext } from './logger';
import type { Metrics } from './metrics';
import { errorMessage } from './retry';

const GRPC_CODES = Object.keys(grpc.status).filter((k) => Number.isNaN(Number(k)) && k !== 'OK') as [
  string,
  ...string[],
];

const ms = (max: number) => z.number().int().min(0).max(max);
const percent = z.number().min(0).max(100).default(100).describe('share of matching calls affected (0-100)');
/** Every fault may name the service it is for: a FAULTS value shared by several services activates it only there. */
const service = z.string().min(1).optional().describe('only in this service (default: wherever it is set)');
const latency = {
  fixedMs: ms(600_000).describe('added delay in milliseconds'),
  jitterMs: ms(600_000).default(0).describe('plus a uniformly random 0..jitterMs'),
};

/** The catalog. Adding a fault: an entry here (schema, description, scope) and a hook where it acts. */
export const FAULT_CATALOG = {
  'grpc-server-latency': {
    description: 'delay before this server handles a call',
    scope: 'gRPC method',
    schema: z.strictObject({ service, method: z.string().min(1).optional(), ...latency, percent }),
  },
  'grpc-server-error': {
    description: 'this server answers a call with a gRPC status instead of handling it',
    scope: 'gRPC method',
    schema: z.strictObject({
      service,
      method: z.string().min(1).optional(),
      code: z.enum(GRPC_CODES),
      message: z.string().max(200).default('injected fault'),
      percent,
    }),
  },
  'grpc-client-latency': {
    description: 'delay before a call to a dependency is sent (like a mesh fault on the destination)',
    scope: 'gRPC dependency (target: part of the service name, e.g. "inventory") and method',
    schema: z.strictObject({
      service,
      target: z.string().min(1).optional(),
      method: z.string().min(1).optional(),
      ...latency,
      percent,
    }),
  },
  'grpc-client-error': {
    description: 'a call to a dependency fails with a gRPC status without being sent',
    scope: 'gRPC dependency and method',
    schema: z.strictObject({
      service,
      target: z.string().min(1).optional(),
      method: z.string().min(1).optional(),
      code: z.enum(GRPC_CODES),
      message: z.string().max(200).default('injected fault'),
      percent,
    }),
  },
  'http-latency': {
    description: 'delay before an HTTP route is handled (never the probes)',
    scope: 'HTTP route template and method',
    schema: z.strictObject({
      service,
      route: z.string().startsWith('/').optional(),
      method: z.string().min(1).optional(),
      ...latency,
      percent,
    }),
  },
  'http-error': {
    description: 'an HTTP route answers with a status (problem+json) instead of being handled',
    scope: 'HTTP route template and method',
    schema: z.strictObject({
      service,
      route: z.string().startsWith('/').optional(),
      method: z.string().min(1).optional(),
      status: z.number().int().min(400).max(599),
      percent,
    }),
  },
  'http-cpu-cost': {
    description:
      'an HTTP route costs this much CPU time before it is handled (a CPU-bound request: the work of a payment, a render)',
    scope: 'HTTP route template and method',
    schema: z.strictObject({
      service,
      route: z.string().startsWith('/').optional(),
      method: z.string().min(1).optional(),
      cpuMs: z.number().int().min(1).max(1000).describe('CPU time burnt on the event loop per request'),
      percent,
    }),
  },
  'db-slow-transactions': {
    description:
      'a PostgreSQL connection checked out by the operation runs a slow statement first, holding it',
    scope: 'operation (gRPC method); unset: every checkout',
    schema: z.strictObject({
      service,
      operation: z.string().min(1).optional(),
      holdMs: ms(600_000).refine((v) => v > 0, 'expected a positive number of milliseconds'),
      percent,
    }),
  },
  'kafka-consumer-slow': {
    description: 'the consumer waits before each message; delayMs 0 pauses it until the fault is removed',
    scope: 'topic',
    schema: z.strictObject({
      service,
      topic: z.string().min(1).optional(),
      delayMs: ms(600_000).default(0),
      maxPauseMs: ms(3_600_000).default(600_000).describe('a pause never lasts longer than this'),
    }),
  },
  'kafka-producer-blackhole': {
    description: 'published messages are reported sent but never reach the broker (errors swallowed)',
    scope: 'topic',
    schema: z.strictObject({ service, topic: z.string().min(1).optional(), percent }),
  },
  'kafka-acl-denied': {
    description:
      'the broker refuses what this service publishes to the topic: TOPIC_AUTHORIZATION_FAILED (an ACL without WRITE)',
    scope: 'topic',
    schema: z.strictObject({ service, topic: z.string().min(1).optional(), percent }),
  },
  'contract-version-skew': {
    description:
      'published messages of a type are written in its next, incompatible version (a producer deployed ahead)',
    scope: 'message type',
    schema: z.strictObject({
      service,
      messageType: z.enum(Object.keys(NEXT_VERSIONS) as [string, ...string[]]),
      percent,
    }),
  },
  'readiness-fail': {
    description: '/readyz answers 503 with this check failing',
    scope: 'service',
    schema: z.strictObject({
      service,
      check: z.string().min(1).max(64).default('injected'),
      message: z.string().max(200).default('failing readiness (injected fault)'),
    }),
  },
  'cpu-burn': {
    description: 'busy-loops on the event loop for utilization% of every slice',
    scope: 'service',
    schema: z.strictObject({
      service,
      utilization: z.number().int().min(1).max(100).default(80),
      sliceMs: z.number().int().min(10).max(1000).default(100),
    }),
  },
  'memory-leak': {
    description: 'retains memory at a steady rate, up to maxBytes',
    scope: 'service',
    schema: z.strictObject({
      service,
      bytesPerSecond: z
        .number()
        .int()
        .min(1024)
        .max(256 * 1024 * 1024)
        .default(4 * 1024 * 1024),
      maxBytes: z
        .number()
        .int()
        .min(1024)
        .max(4 * 1024 * 1024 * 1024)
        .default(512 * 1024 * 1024),
    }),
  },
  'shutdown-no-drain': {
    description: 'SIGTERM exits at once: in-flight calls and messages are dropped, nothing is drained',
    scope: 'service',
    schema: z.strictObject({ service, exitCode: z.number().int().min(0).max(255).default(0) }),
  },
  'retry-storm': {
    description:
      'the legacy client path: every call to a dependency is repeated at once on any error, up to attempts, with no backoff, jitter, retry budget or circuit breaker',
    scope: 'gRPC dependency (target: part of the dependency name, e.g. "inventory")',
    schema: z.strictObject({
      service,
      target: z.string().min(1).optional(),
      attempts: z.number().int().min(2).max(10).default(4).describe('attempts in all, the first included'),
    }),
  },
  'metric-label-cardinality': {
    description: 'a metric labelled by an id: new series every second, up to maxSeries',
    scope: 'service',
    schema: z.strictObject({
      service,
      seriesPerSecond: z.number().int().min(1).max(10_000).default(200),
      maxSeries: z.number().int().min(1).max(200_000).default(20_000),
    }),
  },
  'legacy-cert-validator': {
    description:
      'the custom server-certificate check of before the mesh replaces the standard one (chain + SAN): it wants the peer name in the subject CN and an RSA key, so certificates of the new format (ECDSA, empty subject, spiffe:// SAN) are rejected',
    scope: 'gRPC dependency (target: part of the peer name, e.g. "inventory"); acts on TLS handshakes',
    schema: z.strictObject({
      service,
      target: z.string().min(1).optional(),
      requireCommonName: z.boolean().default(true).describe('subject CN must equal the peer name'),
      requireRsa: z.boolean().default(true).describe('the key must be RSA'),
    }),
  },
  'order-chatty': {
    description:
      'orders prices a new order with one QuoteItems call per line instead of one for the order (the N+1 pattern)',
    scope: 'service (orders: PlaceOrder)',
    schema: z.strictObject({ service, percent }),
  },
  'order-sync-chain': {
    description:
      'PlaceOrder answers only once the saga has decided the order (APPROVED or REJECTED), or at the bound: the caller holds the whole chain',
    scope: 'service (orders: PlaceOrder)',
    schema: z.strictObject({
      service,
      maxWaitMs: ms(120_000)
        .refine((v) => v > 0, 'expected a positive number of milliseconds')
        .default(30_000)
        .describe("longest hold; the incoming call's deadline bounds it too"),
      percent,
    }),
  },
} as const;

export type FaultName = keyof typeof FAULT_CATALOG;
export type FaultParams<N extends FaultName> = z.output<(typeof FAULT_CATALOG)[N]['schema']>;
export const FAULT_NAMES = Object.keys(FAULT_CATALOG) as FaultName[];

export const isFaultName = (name: string): name is FaultName => Object.hasOwn(FAULT_CATALOG, name);

export interface FaultIssue {
  field: string;
  message: string;
}

/** An unknown fault name or invalid parameters; `issues` names every problem (admin API: 400 problem+json). */
export class FaultValidationError extends Error {
  constructor(readonly issues: FaultIssue[]) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '));
    this.name = 'FaultValidationError';
  }
}

export interface FaultSpec {
  name: FaultName;
  params: Record<string, unknown>;
}

/** Validates one fault's parameters; throws FaultValidationError naming the fault and each bad field. */
export function parseFault(name: string, params: unknown): FaultSpec {
  if (!isFaultName(name))
    throw new FaultValidationError([
      { field: name, message: `unknown fault; one of ${FAULT_NAMES.join(', ')}` },
    ]);
  const r = FAULT_CATALOG[name].schema.safeParse(params ?? {});
  if (!r.success)
    throw new FaultValidationError(
      r.error.issues.map((i) => ({
        field: [name, ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    );
  return { name, params: r.data };
}

/**
 * FAULTS: a JSON object `{ "<fault>": { params }, ... }`. Returns the validated faults or throws
 * FaultValidationError with every problem.
 */
export function parseFaultsEnv(raw: string): FaultSpec[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new FaultValidationError([{ field: 'FAULTS', message: `not JSON: ${errorMessage(err)}` }]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new FaultValidationError([
      { field: 'FAULTS', message: 'expected a JSON object {"<fault name>": {parameters}}' },
    ]);
  const out: FaultSpec[] = [];
  const issues: FaultIssue[] = [];
  for (const [name, params] of Object.entries(parsed)) {
    try {
      out.push(parseFault(name, params));
    } catch (err) {
      if (err instanceof FaultValidationError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (issues.length > 0) throw new FaultValidationError(issues);
  return out;
}

/** The FAULTS variable for service schemas: validated at start like every other variable (exit 2 when invalid). */
export const faultsVariable = () =>
  z
    .preprocess(
      (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
      z
        .string()
        .optional()
        .transform((raw, ctx) => {
          if (raw === undefined) return [] as FaultSpec[];
          try {
            return parseFaultsEnv(raw);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: errorMessage(err) });
            return z.NEVER;
          }
        }),
    )
    .describe(
      `faults active from the start, JSON {"<name>": {params}} (off by default; names: ${FAULT_NAMES.join(', ')})`,
    );

export interface ActiveFault {
  name: FaultName;
  params: Record<string, unknown>;
  since: string;
  source: string;
}

/** Scope of a call a fault may act on; a fault's scope parameter left unset matches everything. */
export interface FaultScope {
  method?: string;
  route?: string;
  target?: string;
  topic?: string;
  operation?: string;
  messageType?: string;
}

// Scope parameters are strings (the schemas say so); anything else never matches.
const same = (want: unknown, have: string | undefined) =>
  want === undefined ||
  (typeof want === 'string' && have !== undefined && want.toLowerCase() === have.toLowerCase());
const within = (want: unknown, have: string | undefined) =>
  want === undefined ||
  (typeof want === 'string' && have !== undefined && have.toLowerCase().includes(want.toLowerCase()));

function scopeMatches(p: Record<string, unknown>, s: FaultScope): boolean {
  return (
    same(p.method, s.method) &&
    same(p.route, s.route) &&
    within(p.target, s.target) &&
    same(p.topic, s.topic) &&
    same(p.operation, s.operation) &&
    same(p.messageType, s.messageType)
  );
}

type Background = (params: Record<string, unknown>, registry: FaultRegistry) => () => void;

const registries = new WeakMap<object, FaultRegistry>();

/** The registry bound to a service's metrics: clients built with those metrics see that service's faults. */
export function faultRegistryOf(metrics: object): FaultRegistry | undefined {
  return registries.get(metrics);
}

/** One per service. Holds the active faults; the hooks ask it whether and how to act. */
export class FaultRegistry {
  private readonly active = new Map<FaultName, ActiveFault>();
  private readonly stops = new Map<FaultName, () => void>();
  private readonly gauge: client.Gauge<'fault'>;
  private readonly hits: client.Counter<'fault'>;
  readonly cardinality: client.Counter<'request_id'>;
  readonly log: Logger;

  constructor(
    readonly service: string,
    logger: Logger,
    metrics: Metrics,
  ) {
    this.log = logger.child({ component: 'faults' });
    const registers = [metrics.registry];
    this.gauge = new client.Gauge({
      name: 'fault_injection_active',
      help: 'Injected faults switched on in this service (1 while active)',
      labelNames: ['fault'],
      registers,
    });
    this.hits = new client.Counter({
      name: 'fault_injection_hits_total',
      help: 'Times an injected fault acted on a call, message or connection',
      labelNames: ['fault'],
      registers,
    });
    // The fault's own metric: a label per request id is the textbook cardinality explosion.
    this.cardinality = new client.Counter({
      name: 'fault_cardinality_requests_total',
      help: 'Requests by request id (metric-label-cardinality fault; unbounded by design)',
      labelNames: ['request_id'],
      registers,
    });
    for (const name of FAULT_NAMES) this.gauge.set({ fault: name }, 0);
    registries.set(metrics, this);
  }

  /** Validates and switches a fault on (replacing its parameters if it was on). */
  set(name: string, params: unknown, source = 'admin'): ActiveFault {
    const spec = parseFault(name, params);
    const forService = spec.params.service;
    if (typeof forService === 'string' && forService !== this.service) {
      throw new FaultValidationError([
        { field: `${name}.service`, message: `this is ${this.service}, not ${forService}` },
      ]);
    }
    this.stopBackground(spec.name);
    const fault: ActiveFault = { ...spec, since: new Date().toISOString(), source };
    this.active.set(spec.name, fault);
    const start = BACKGROUND[spec.name];
    if (start) this.stops.set(spec.name, start(spec.params, this));
    this.gauge.set({ fault: spec.name }, 1);
    this.log.warn(
      { fault: spec.name, params: spec.params, source, code: 'FAULT_ON' },
      `fault ${spec.name} on`,
    );
    return fault;
  }

  /** Applies FAULTS from the environment; entries for another service are skipped. */
  applyAll(specs: FaultSpec[], source = 'FAULTS'): void {
    for (const s of specs) {
      if (typeof s.params.service === 'string' && s.params.service !== this.service) continue;
      this.set(s.name, s.params, source);
    }
  }

  clear(name: string, source = 'admin'): boolean {
    if (!isFaultName(name))
      throw new FaultValidationError([
        { field: name, message: `unknown fault; one of ${FAULT_NAMES.join(', ')}` },
      ]);
    this.stopBackground(name);
    const was = this.active.delete(name);
    this.gauge.set({ fault: name }, 0);
    if (was) this.log.warn({ fault: name, source, code: 'FAULT_OFF' }, `fault ${name} off`);
    return was;
  }

  clearAll(source = 'shutdown'): void {
    for (const name of [...this.active.keys()]) this.clear(name, source);
  }

  list(): ActiveFault[] {
    return [...this.active.values()];
  }

  isActive(name: FaultName): boolean {
    return this.active.has(name);
  }

  params<N extends FaultName>(name: N): FaultParams<N> | undefined {
    return this.active.get(name)?.params as FaultParams<N> | undefined;
  }

  /**
   * The parameters of `name` when it is active, its scope matches and the percentage draw says so; records the hit
   * (counter, span attribute and event). Undefined: do nothing.
   */
  hit<N extends FaultName>(name: N, scope: FaultScope = {}): FaultParams<N> | undefined {
    const f = this.active.get(name);
    if (!f || !scopeMatches(f.params, scope)) return undefined;
    const pct = f.params.percent;
    if (typeof pct === 'number' && Math.random() * 100 >= pct) return undefined;
    this.hits.inc({ fault: name });
    const span = trace.getActiveSpan();
    span?.setAttribute('fault.injected', name);
    span?.addEvent('fault.injected', { 'fault.name': name, 'fault.params': JSON.stringify(f.params) });
    return f.params as FaultParams<N>;
  }

  private stopBackground(name: FaultName) {
    this.stops.get(name)?.();
    this.stops.delete(name);
  }
}

/** fixedMs plus a random 0..jitterMs. */
export const delayOf = (p: { fixedMs: number; jitterMs: number }) =>
  p.fixedMs + (p.jitterMs > 0 ? Math.random() * p.jitterMs : 0);

/**
 * Spends `cpuMs` of this thread's CPU time on the event loop. Measured in CPU time, not wall time: under a CPU quota
 * the loop is paused by the kernel and the request still costs what it costs, as real work would.
 */
export function burnCpu(cpuMs: number): void {
  const start = process.threadCpuUsage();
  const budgetUs = cpuMs * 1000;
  for (let i = 0; i < 1e9; i++) {
    // getrusage every 256 turns: often enough to stop within a few microseconds of the budget
    if ((i & 255) === 0) {
      const used = process.threadCpuUsage(start);
      if (used.user + used.system >= budgetUs) return;
    }
  }
}

const BACKGROUND: Partial<Record<FaultName, Background>> = {
  'cpu-burn': (p) => {
    const slice = Number(p.sliceMs);
    const busy = (slice * Number(p.utilization)) / 100;
    const t = setInterval(() => {
      const until = performance.now() + busy;
      while (performance.now() < until) {
        // burn: the event loop is blocked on purpose
      }
    }, slice);
    return () => clearInterval(t);
  },
  'memory-leak': (p) => {
    const retained: Buffer[] = [];
    let bytes = 0;
    const perTick = Math.max(1024, Math.floor(Number(p.bytesPerSecond) / 10));
    const t = setInterval(() => {
      if (bytes + perTick > Number(p.maxBytes)) return;
      retained.push(Buffer.alloc(perTick, 1)); // filled, so the pages are really resident
      bytes += perTick;
    }, 100);
    return () => {
      clearInterval(t);
      retained.length = 0;
    };
  },
  'metric-label-cardinality': (p, registry) => {
    let series = 0;
    const t = setInterval(() => {
      for (let i = 0; i < Number(p.seriesPerSecond) && series < Number(p.maxSeries); i++, series++)
        registry.cardinality.inc({ request_id: randomUUID() });
    }, 1000);
    return () => {
      clearInterval(t);
      registry.cardinality.reset();
    };
  },
};

// --- hooks used by the platform's helpers ---------------------------------------------------------------------

/** Latency and error faults of a gRPC server around one handler (unary: callback; streaming: the call). */
export function grpcServerFault(
  faults: FaultRegistry | undefined,
  method: string,
): { delayMs: number; error?: { code: grpc.status; details: string } } | undefined {
  if (!faults) return undefined;
  const late = faults.hit('grpc-server-latency', { method });
  const err = faults.hit('grpc-server-error', { method });
  if (!late && !err) return undefined;
  return {
    delayMs: late ? delayOf(late) : 0,
    ...(err
      ? { error: { code: grpc.status[err.code as keyof typeof grpc.status], details: err.message } }
      : {}),
  };
}

// The call underneath a short-circuited one: never started, so nothing reaches it.
const NOT_SENT = {
  cancelWithStatus() {},
  getPeer: () => 'fault-injected',
  start() {},
  sendMessageWithContext() {},
  sendMessage() {},
  startRead() {},
  halfClose() {},
  getAuthContext: () => null,
} as unknown as ConstructorParameters<typeof grpc.InterceptingCall>[0];

/** Client interceptor acting on calls to dependencies; placed inside the metrics interceptor so they count. */
export function faultClientInterceptor(faults: FaultRegistry): grpc.Interceptor {
  return (options, nextCall) => {
    const [, target = '', method = ''] = options.method_definition.path.split('/');
    const late = faults.hit('grpc-client-latency', { target, method });
    const err = faults.hit('grpc-client-error', { target, method });
    if (!late && !err) return new grpc.InterceptingCall(nextCall(options));
    if (err) {
      // Short-circuit: the call is never sent; the caller sees the status after the injected delay.
      return new grpc.InterceptingCall(NOT_SENT, {
        start(_metadata, listener) {
          setTimeout(
            () => {
              listener.onReceiveMetadata(new grpc.Metadata());
              listener.onReceiveStatus({
                code: grpc.status[err.code as keyof typeof grpc.status],
                details: err.message,
                metadata: new grpc.Metadata(),
              });
            },
            late ? delayOf(late) : 0,
          );
        },
        sendMessage() {},
        halfClose() {},
        cancel() {},
      });
    }
    const wait = late ? delayOf(late) : 0;
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        setTimeout(() => next(metadata, listener), wait);
      },
    });
  };
}

/**
 * Slow transactions: a connection checked out by a matching operation first runs `pg_sleep(holdMs)`, so it is
 * held that long (a statement_timeout, if configured, cuts it short: that is the product's defence).
 */
export function instrumentPool(pool: Pool, faults: FaultRegistry): Pool {
  const connect = pool.connect.bind(pool) as () => Promise<PoolClient>;
  const slow = async () => {
    const c = await connect();
    const p = faults.hit('db-slow-transactions', { operation: requestContext.getStore()?.operation });
    if (!p) return c;
    try {
      await c.query('SELECT pg_sleep($1)', [p.holdMs / 1000]);
      return c;
    } catch (err) {
      c.release();
      throw err;
    }
  };
  // pg-pool's own query() calls this.connect(callback): both forms are kept.
  (pool as unknown as { connect: unknown }).connect = (
    cb?: (err: Error | undefined, c?: PoolClient, done?: () => void) => void,
  ) => {
    const p = slow();
    if (!cb) return p;
    p.then(
      (c) => cb(undefined, c, () => c.release()),
      (err: Error) => cb(err),
    );
    return undefined;
  };
  return pool;
}

/** What kafkajs throws when the broker's authorizer denies a produce (error code 29, not retriable). */
export function topicAuthorizationFailed(topic: string): Error {
  return Object.assign(new Error(`Not authorized to access topics: [${topic}]`), {
    name: 'KafkaJSProtocolError',
    type: 'TOPIC_AUTHORIZATION_FAILED',
    code: 29,
    retriable: false,
  });
}

/** Producer faults on what the relay publishes: rewritten in a newer contract version, or silently dropped. */
export function instrumentBus(bus: MessageBus, faults: FaultRegistry): MessageBus {
  const skew = (r: OutgoingRecord): OutgoingRecord => {
    if (!faults.isActive('contract-version-skew')) return r;
    try {
      const envelope = decodeEnvelope(r.value);
      if (!faults.hit('contract-version-skew', { messageType: envelope.type })) return r;
      const next = NEXT_VERSIONS[envelope.type];
      return next ? { ...r, value: next.write(envelope) } : r;
    } catch {
      return r;
    }
  };
  return {
    ...bus,
    send: async (records) => {
      const denied = faults.isActive('kafka-acl-denied')
        ? records.find((r) => faults.hit('kafka-acl-denied', { topic: r.topic }))
        : undefined;
      // A produce request is all or nothing, as the broker's answer is: one denied topic fails the whole batch.
      if (denied) throw topicAuthorizationFailed(denied.topic);
      const kept = records.filter((r) => !faults.hit('kafka-producer-blackhole', { topic: r.topic }));
      if (kept.length < records.length)
        faults.log.debug({ dropped: records.length - kept.length }, 'messages swallowed by fault');
      await bus.send(kept.map(skew));
    },
    subscribe: (options) =>
      bus.subscribe({
        ...options,
        beforeHandle: async (message, heartbeat) => {
          await options.beforeHandle?.(message, heartbeat);
          const p = faults.hit('kafka-consumer-slow', { topic: message.topic });
          if (!p) return;
          if (p.delayMs > 0) {
            await sleep(p.delayMs);
            return;
          }
          const until = Date.now() + p.maxPauseMs;
          while (faults.isActive('kafka-consumer-slow') && Date.now() < until) {
            await sleep(500);
            await heartbeat().catch(() => undefined);
          }
        },
      }),
  };
}
