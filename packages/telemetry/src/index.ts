import { randomUUID } from 'node:crypto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, NoopSpanProcessor, ParentBasedSampler } from '@opentelemetry/sdk-trace';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** The OTEL_* variables are read here, by the SDK's own conventions, because this runs before config.ts. */
  env?: NodeJS.ProcessEnv;
}

let sdk: NodeSDK | undefined;

/**
 * Starts tracing for this process. Must run before pg, @grpc/grpc-js or http are loaded (services load it with
 * `node --require ./dist/src/instrumentation.js`), because instrumentation patches modules as they are required.
 * With no OTLP endpoint configured spans are still created (trace ids reach the logs and the next hop) but nothing
 * is exported, and shutdown does not wait for a collector.
 */
export function startTelemetry(opts: TelemetryOptions): void {
  if (sdk) return;
  const env = opts.env ?? process.env;
  if (env.OTEL_SDK_DISABLED === 'true') return;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // This platform exports traces only: metrics are scraped by Prometheus and logs go to stdout. Without these the
  // SDK would start OTLP log and metric exporters towards a default endpoint.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.name': opts.serviceName,
      'service.version': opts.serviceVersion ?? '0.1.0',
      'service.instance.id': randomUUID(),
      'deployment.environment.name': env.DEPLOYMENT_ENVIRONMENT ?? 'local',
    }),
    // OTLP over http/protobuf; the endpoint and headers come from the standard OTEL_* variables. Without an endpoint
    // spans are still made (trace ids for logs and propagation) and dropped: an empty processor list would leave
    // no tracer provider at all.
    // The SDK wraps the exporter in a batch processor tuned by the standard OTEL_BSP_* variables.
    ...(endpoint
      ? { traceExporter: new OTLPTraceExporter() }
      : { spanProcessors: [new NoopSpanProcessor()] }),
    // OTEL_TRACES_SAMPLER / _ARG are honoured by the SDK; when unset, the specification's default applies
    // (parent-based, always on). The SDK would otherwise pass an undefined sampler on.
    ...(env.OTEL_TRACES_SAMPLER ? {} : { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) }),
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes would drown the traces of real requests.
        ignoreIncomingRequestHook: (req) => /^\/(livez|readyz|metrics)/.test(req.url ?? ''),
      }),
      new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch', 'ServerReflectionInfo'] }),
      // Queries only: a span per pool checkout would double the database spans and add nothing to read.
      new PgInstrumentation({
        requireParentSpan: true,
        enhancedDatabaseReporting: false,
        ignoreConnectSpans: true,
      }),
    ],
  });
  sdk.start();
}

/** Flushes and stops the SDK; a no-op when telemetry was not started. Bounded so shutdown never hangs on export. */
export async function shutdownTelemetry(timeoutMs = 3000): Promise<void> {
  if (!sdk) return;
  const s = sdk;
  sdk = undefined;
  await Promise.race([
    s.shutdown().catch(() => undefined),
    new Promise((r) => setTimeout(r, timeoutMs).unref()),
  ]);
}
