import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import pino from 'pino';
import type { Identity } from './auth';

export type Logger = pino.Logger;

/** Per-request context (request id) carried across awaits, so every log line of a request names it. */
export interface RequestContext {
  requestId: string;
  /** Deadline of the incoming call (epoch ms), inherited by the calls made while serving it. */
  deadline?: number;
  /** The gRPC method being served, when there is one (the fault layer scopes faults by it). */
  operation?: string;
  /** The verified caller (auth.ts setCaller); its token is forwarded by clients with `forwardCaller`, never logged. */
  caller?: Identity;
  /** Routing headers of the incoming request (ROUTING_HEADERS), passed on as metadata of every outgoing gRPC call. */
  routing?: [string, string][];
}
export const requestContext = new AsyncLocalStorage<RequestContext>();

/**
 * The request headers a service passes on to the services it calls, so that the mesh's header routes below the edge
 * match (the canary header first). Set once at start from ROUTING_HEADERS.
 */
let routingHeaderNames: readonly string[] = ['x-canary'];
export function setRoutingHeaders(names: readonly string[]): void {
  routingHeaderNames = names.map((n) => n.toLowerCase());
}

/** The routing headers present in a request's headers or a call's metadata (first value of each, at most 256 chars). */
export function routingHeadersOf(get: (name: string) => unknown): [string, string][] | undefined {
  const out: [string, string][] = [];
  for (const name of routingHeaderNames) {
    const raw = get(name);
    const v = Array.isArray(raw) ? (raw[0] as unknown) : raw;
    if (typeof v === 'string' && v.length > 0 && v.length <= 256) out.push([name, v]);
  }
  return out.length > 0 ? out : undefined;
}

export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      // Correlate logs with traces and requests without every call site passing ids around.
      mixin() {
        const out: Record<string, string> = {};
        const span = trace.getActiveSpan();
        if (span) {
          const ctx = span.spanContext();
          out.trace_id = ctx.traceId;
          out.span_id = ctx.spanId;
        }
        const req = requestContext.getStore();
        if (req) out.request_id = req.requestId;
        return out;
      },
      redact: { paths: ['password', '*.password', 'databaseUrl', '*.databaseUrl'], censor: '[redacted]' },
    },
    destination,
  );
}
