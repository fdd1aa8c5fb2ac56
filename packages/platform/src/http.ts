import { randomUUID } from 'node:crypto';
import { isSpanContextValid, trace, TraceFlags } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Logger } from './logger';
import { requestContext, routingHeadersOf } from './logger';
import type { Metrics } from './metrics';
import { observeWithExemplar } from './metrics';
import { errorMessage } from './retry';
import type { FaultRegistry } from './faults';
import { burnCpu, delayOf } from './faults';

export type ReadinessCheck = () => Promise<void>;

export interface HttpServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Named checks; `/readyz` is 200 only when every check resolves (or, with readyWhen 'any', at least one). */
  readiness: Record<string, ReadinessCheck>;
  /**
   * 'all' (default): unready when any check fails. 'any': degraded but ready (200, status "degraded") while at least
   * one check holds, for a service such as the edge that still serves what its healthy dependencies answer; taking
   * it out of the load balancer for one dependency would turn a partial outage into a total one.
   */
  readyWhen?: 'all' | 'any';
  bodyLimit?: number;
  /** The service's fault layer (latency, errors, failing readiness); none: no faults. */
  faults?: FaultRegistry;
  /** The edge answers fastify's own routing errors (a malformed URL, an over-long parameter) itself. */
  frameworkErrors?: FastifyServerOptions['frameworkErrors'];
  /** false: an HTTP/1.1 request without Host reaches the hooks (the edge answers it) instead of Node's empty 400. */
  requireHostHeader?: boolean;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const PROBES = new Set(['/livez', '/readyz', '/metrics']);

/**
 * Fastify with `/livez`, `/readyz` and `/metrics`, request ids (`X-Request-ID` accepted or created, echoed back)
 * and HTTP RED metrics labelled by route template, never by raw URL.
 */
export interface HttpServer {
  app: FastifyInstance;
  /** Flips `/readyz` from "starting" to the result of the checks once start-up has completed (or back). */
  setReady(value: boolean): void;
  listen(host: string, port: number, portVariable: string): Promise<number>;
  close(): Promise<void>;
}

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const loggerInstance: FastifyBaseLogger = opts.logger.child({ component: 'http' });
  const app: FastifyInstance = Fastify({
    loggerInstance,
    // Request lines are logged by the onResponse hook below (5xx only), with route templates, not raw URLs.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    ...(opts.frameworkErrors ? { frameworkErrors: opts.frameworkErrors } : {}),
    ...(opts.requireHostHeader === false ? { http: { requireHostHeader: false } } : {}),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  let ready = false;
  const started = new WeakMap<object, number>();

  app.addHook('onRequest', (req, reply, done) => {
    started.set(req, performance.now());
    // The HTTP server span comes from the http instrumentation, which cannot know fastify's route template.
    const route = req.routeOptions.url;
    const span = trace.getActiveSpan();
    if (span && route) {
      span.setAttribute('http.route', route);
      span.updateName(`${req.method} ${route}`);
    }
    void reply.header('x-request-id', req.id);
    const traceResponse = traceResponseOf(span);
    if (traceResponse) void reply.header('traceresponse', traceResponse);
    // Everything downstream of this request (logs, gRPC metadata) sees its id.
    const routing = routingHeadersOf((name) => req.headers[name]);
    requestContext.run(routing ? { requestId: req.id, routing } : { requestId: req.id }, done);
  });
  const faults = opts.faults;
  if (faults) {
    app.addHook('preHandler', async (req, reply) => {
      const route = req.routeOptions.url;
      if (!route || PROBES.has(route)) return;
      if (faults.isActive('metric-label-cardinality')) faults.cardinality.inc({ request_id: req.id });
      const late = faults.hit('http-latency', { route, method: req.method });
      if (late) await new Promise((r) => setTimeout(r, delayOf(late)));
      const cost = faults.hit('http-cpu-cost', { route, method: req.method });
      if (cost) burnCpu(cost.cpuMs);
      const err = faults.hit('http-error', { route, method: req.method });
      if (err) {
        return reply
          .code(err.status)
          .type('application/problem+json')
          .send({
            type: 'https://errors.cloud-native-shop.dev/injected-fault',
            title: 'Injected fault',
            status: err.status,
            detail: `http-error fault on ${req.method} ${route}`,
            errors: [],
          });
      }
    });
  }
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route !== '/metrics') {
      const labels = { method: req.method, route, status_code: String(reply.statusCode) };
      opts.metrics.http.requests.inc(labels);
      observeWithExemplar(
        opts.metrics.http.duration,
        labels,
        (performance.now() - (started.get(req) ?? performance.now())) / 1000,
      );
    }
    if (!PROBES.has(route)) {
      // One access-log line per API request (never for probes and scrapes), at error level for server faults.
      const line = { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
      if (reply.statusCode >= 500) req.log.error(line, 'request failed');
      else req.log.info(line, 'request completed');
    }
    done();
  });

  app.get('/livez', (_req, reply) => reply.send({ status: 'ok' }));
  // The body says only which dependency is up or down: a probe port may be reachable by more than the kubelet, and
  // the reason (addresses, driver and gRPC messages) is for the log, once per change of a check's outcome.
  const lastFailure = new Map<string, string>();
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = ready;
    let up = 0;
    let down = 0;
    if (!ready) checks.startup = 'starting';
    const failing = opts.faults?.params('readiness-fail');
    if (failing) {
      ok = false;
      checks[failing.check] = failing.message;
    }
    await Promise.all(
      Object.entries(opts.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000, name);
          checks[name] = 'up';
          up++;
          if (lastFailure.delete(name)) opts.logger.info({ check: name }, 'readiness check up again');
        } catch (err) {
          down++;
          checks[name] = 'down';
          const reason = errorMessage(err);
          if (lastFailure.get(name) !== reason) {
            lastFailure.set(name, reason);
            opts.logger.warn({ check: name, err: reason }, 'readiness check down');
          }
        }
      }),
    );
    const degraded = down > 0 && up > 0 && opts.readyWhen === 'any';
    if (down > 0 && !degraded) ok = false;
    const status = !ok ? 'not ready' : degraded ? 'degraded' : 'ready';
    return reply.code(ok ? 200 : 503).send({ status, checks });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });

  return {
    app,
    setReady: (value) => {
      ready = value;
    },
    async listen(host, port, portVariable) {
      try {
        await app.listen({ host, port });
      } catch (err) {
        if ((err as { code?: string }).code === 'EADDRINUSE') {
          throw new Error(
            `HTTP port ${port} on ${host} is already in use; set ${portVariable} to a free port`,
            { cause: err },
          );
        }
        throw err;
      }
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    close: () => app.close(),
  };
}

/**
 * The W3C Trace Context Level 2 `traceresponse` value of a request's server span (`00-<trace-id>-<span-id>-<flags>`),
 * so that a client (the console) can open the trace of what it just did; undefined without a valid span (a probe,
 * telemetry off).
 */
export function traceResponseOf(span: Span | undefined): string | undefined {
  const ctx = span?.spanContext();
  if (!ctx || !isSpanContextValid(ctx)) return undefined;
  const sampled = (ctx.traceFlags & TraceFlags.SAMPLED) !== 0;
  return `00-${ctx.traceId}-${ctx.spanId}-${sampled ? '01' : '00'}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} check timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
