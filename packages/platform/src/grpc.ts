import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import {
  decodeBadRequest,
  encodeBadRequest,
  reflectionPackageDefinition,
  StandardServiceNames,
} from '@shop/contracts';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from './logger';
import type { RequestContext } from './logger';
import { requestContext, routingHeadersOf } from './logger';
import type { Metrics } from './metrics';
import { observeWithExemplar } from './metrics';
import type { RetrySettings } from './resilience';
import { retryServiceConfig } from './resilience';
import type { FaultRegistry } from './faults';
import { faultClientInterceptor, faultRegistryOf, grpcServerFault } from './faults';
import { DISCOVERY_REFRESH_OPTION, registerFileResolver } from './discovery';
import type { GrpcTls } from './tls';

export { grpc };
export const Status = grpc.status;

export interface FieldViolation {
  field: string;
  description: string;
}

/** An error a handler throws (or passes to the callback) to answer with a given status. */
export interface GrpcError extends Partial<grpc.ServiceError> {
  code: grpc.status;
  details: string;
  metadata?: grpc.Metadata;
}

export function grpcError(code: grpc.status, details: string): GrpcError {
  return Object.assign(new Error(details), { code, details });
}

/** INVALID_ARGUMENT with `google.rpc.BadRequest` field violations in the `grpc-status-details-bin` trailer. */
export function invalidArgument(violations: FieldViolation[]): GrpcError {
  const details = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', encodeBadRequest(violations, details));
  return Object.assign(new Error(details), { code: grpc.status.INVALID_ARGUMENT, details, metadata });
}

/** Field violations of an INVALID_ARGUMENT error received from another service (empty when there are none). */
export function violationsOf(err: unknown): FieldViolation[] {
  const md = (err as { metadata?: grpc.Metadata }).metadata;
  const raw = md?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return [];
  try {
    return decodeBadRequest(raw);
  } catch {
    return [];
  }
}

export function isGrpcError(err: unknown, code?: grpc.status): err is grpc.ServiceError {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' && (code === undefined || c === Number(code));
}

const codeName = (code: number) => grpc.status[code] ?? String(code);
const splitPath = (path: string) => {
  const [, service = 'unknown', method = 'unknown'] = path.split('/');
  return { grpc_service: service, grpc_method: method };
};

function serverMetricsInterceptor(metrics: Metrics): grpc.ServerInterceptor {
  return (descriptor, call) => {
    const started = performance.now();
    const labels = splitPath(descriptor.path);
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        const l = { ...labels, grpc_code: codeName(status.code) };
        metrics.grpcServer.handled.inc(l);
        observeWithExemplar(metrics.grpcServer.duration, l, (performance.now() - started) / 1000);
        next(status);
      },
    });
  };
}

type AnyHandler = (call: { metadata: grpc.Metadata }, ...rest: unknown[]) => unknown;

/** A gRPC deadline as epoch milliseconds; undefined when there is none (Infinity). */
function epochMs(deadline: grpc.Deadline | undefined): number | undefined {
  if (deadline === undefined) return undefined;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** Runs every handler inside a request context carrying the caller's `x-request-id` (or a new one). */
function withRequestIds<T extends object>(implementation: T, faults?: FaultRegistry): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(implementation)) {
    const handler = fn as AnyHandler;
    const operation = name.charAt(0).toUpperCase() + name.slice(1);
    out[name] = (
      call: { metadata: grpc.Metadata; getDeadline?: () => grpc.Deadline },
      ...rest: unknown[]
    ) => {
      const given = call.metadata.get('x-request-id')[0];
      const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
      const deadline = epochMs(call.getDeadline?.());
      const routing = routingHeadersOf((name) => call.metadata.get(name));
      const context: RequestContext = { requestId, operation };
      if (deadline !== undefined) context.deadline = deadline;
      if (routing) context.routing = routing;
      const run = () => requestContext.run(context, () => handler(call, ...rest));
      const fault = grpcServerFault(faults, operation);
      if (!fault) return run();
      setTimeout(() => {
        if (!fault.error) return void run();
        const callback = rest[0];
        const err = Object.assign(new Error(fault.error.details), fault.error);
        if (typeof callback === 'function') (callback as (e: unknown) => void)(err);
        else (call as unknown as { emit(e: string, v: unknown): void }).emit('error', err);
      }, fault.delayMs);
      return undefined;
    };
  }
  return out as T;
}

export interface GrpcServerOptions {
  /** false: no server reflection (a test's ad-hoc service has no descriptor in @shop/contracts). Default: on. */
  reflection?: false;
  services: {
    name: string;
    definition: grpc.ServiceDefinition;
    implementation: grpc.UntypedServiceImplementation;
  }[];
  metrics: Metrics;
  logger: Logger;
  /** The service's fault layer (latency and errors on its methods); none: no faults. */
  faults?: FaultRegistry;
  /** Mutual TLS (client certificates required); none: plaintext. */
  tls?: GrpcTls;
}

export interface RunningGrpcServer {
  port: number;
  health: HealthImplementation;
  setServing(serving: boolean): void;
  stop(timeoutMs: number): Promise<void>;
}

/** A gRPC server with `grpc.health.v1`, server reflection of its own services, RED metrics and request ids on every call. */
export async function startGrpcServer(
  opts: GrpcServerOptions,
  host: string,
  port: number,
  portVariable: string,
): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    interceptors: [serverMetricsInterceptor(opts.metrics)],
    ...opts.tls?.serverOptions(),
  });
  for (const s of opts.services)
    server.addService(s.definition, withRequestIds(s.implementation, opts.faults));
  const statuses: Record<string, 'SERVING' | 'NOT_SERVING'> = { '': 'NOT_SERVING' };
  for (const s of opts.services) statuses[s.name] = 'NOT_SERVING';
  const health = new HealthImplementation(statuses);
  health.addToServer(server);
  // Reflection describes what this server implements and nothing else (grpcurl would otherwise offer, and call,
  // another service's methods here).
  const names = opts.services.map((s) => s.name);
  if (opts.reflection !== false)
    new ReflectionService(reflectionPackageDefinition(names), {
      services: [...names, ...StandardServiceNames],
    }).addToServer(server);
  const credentials = opts.tls?.serverCredentials() ?? grpc.ServerCredentials.createInsecure();
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, credentials, (err, p) => {
      if (err) {
        const inUse = /EADDRINUSE|address already in use|No address added/i.test(err.message);
        reject(
          new Error(
            inUse
              ? `gRPC port ${port} on ${host} is already in use; set ${portVariable} to a free port`
              : `gRPC server could not bind ${host}:${port}: ${err.message}`,
          ),
        );
      } else resolve(p);
    }),
  );
  opts.tls?.observeServer(server);
  const setServing = (serving: boolean) => {
    for (const name of Object.keys(statuses)) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
  };
  return {
    port: bound,
    health,
    setServing,
    async stop(timeoutMs: number) {
      setServing(false);
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

export interface ClientOptions {
  deadlineMs: number;
  metrics: Metrics;
  /** Retries for the methods safe to repeat, under a retry budget (resilience.ts). None when absent. */
  retry?: { service: string; methods: readonly string[]; settings: RetrySettings };
  /** For a `file:/path` target: how long the endpoints read from the file are trusted before it is read again. */
  discoveryRefreshMs?: number;
  /** Mutual TLS to the peer named here (its identity in the server certificate's SAN); none: plaintext. */
  tls?: { tls: GrpcTls; peer: string };
  /**
   * Pass the current request's caller on as `authorization: Bearer <token>` metadata (auth.ts setCaller): the
   * gateway's clients of orders and payments, which verify it themselves. Off: no credentials leave with a call.
   */
  forwardCaller?: boolean;
}

/**
 * Client interceptor: a deadline on every call (its own, or the incoming call's if that ends sooner: a caller that
 * has given up is not worked for further down the chain), request-id propagation, client RED metrics.
 */
export function clientInterceptor(opts: ClientOptions): grpc.Interceptor {
  return (options, nextCall) => {
    const started = performance.now();
    const labels = splitPath(options.method_definition.path);
    const own = epochMs(options.deadline) ?? Date.now() + opts.deadlineMs;
    const inherited = requestContext.getStore()?.deadline;
    const deadline = inherited === undefined ? own : Math.min(own, inherited);
    return new grpc.InterceptingCall(nextCall({ ...options, deadline }), {
      start(metadata, listener, next) {
        const requestId = requestContext.getStore()?.requestId;
        if (requestId && metadata.get('x-request-id').length === 0) metadata.set('x-request-id', requestId);
        // The routing headers of the request being served (x-canary...): the mesh routes this call by them too.
        for (const [name, value] of requestContext.getStore()?.routing ?? [])
          if (metadata.get(name).length === 0) metadata.set(name, value);
        const caller = opts.forwardCaller ? requestContext.getStore()?.caller : undefined;
        if (caller && metadata.get('authorization').length === 0)
          metadata.set('authorization', `Bearer ${caller.token}`);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            const l = { ...labels, grpc_code: codeName(status.code) };
            opts.metrics.grpcClient.handled.inc(l);
            observeWithExemplar(opts.metrics.grpcClient.duration, l, (performance.now() - started) / 1000);
            nextStatus(status);
          },
        });
      },
    });
  };
}

type ClientCtor<C> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => C;

export function createGrpcClient<C>(Ctor: ClientCtor<C>, address: string, opts: ClientOptions): C {
  // The fault interceptor sits inside the metrics one, so injected latency and errors are measured like real ones.
  const faults = faultRegistryOf(opts.metrics);
  const interceptors = [clientInterceptor(opts), ...(faults ? [faultClientInterceptor(faults)] : [])];
  if (address.startsWith('file:')) registerFileResolver();
  const secure = opts.tls?.tls.channel(opts.tls.peer);
  return new Ctor(address, secure?.credentials ?? grpc.credentials.createInsecure(), {
    ...secure?.options,
    interceptors,
    ...(opts.discoveryRefreshMs ? { [DISCOVERY_REFRESH_OPTION]: opts.discoveryRefreshMs } : {}),
    ...(opts.retry
      ? {
          'grpc.service_config': retryServiceConfig(
            opts.retry.service,
            opts.retry.methods,
            opts.retry.settings,
          ),
        }
      : { 'grpc.enable_retries': 0 }),
  });
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** Promise form of a unary call; the deadline comes from the client interceptor unless given here. */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: Partial<grpc.CallOptions> = {},
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    method(request, metadata, options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Asks a server's `grpc.health.v1.Health/Check` for the overall status (over mTLS to `tls.peer` when given). */
export async function checkHealth(
  address: string,
  deadlineMs: number,
  tls?: { tls: GrpcTls; peer: string },
): Promise<boolean> {
  const secure = tls?.tls.channel(tls.peer);
  const client = new grpc.Client(
    address,
    secure?.credentials ?? grpc.credentials.createInsecure(),
    secure?.options,
  );
  try {
    const res = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, value) => (err || !value ? reject(err ?? new Error('empty health response')) : resolve(value)),
      ),
    );
    // HealthCheckResponse { ServingStatus status = 1; } SERVING = 1, encoded as field 1 varint: 0x08 0x01.
    return res.length === 2 && res[0] === 0x08 && res[1] === 0x01;
  } finally {
    client.close();
  }
}
