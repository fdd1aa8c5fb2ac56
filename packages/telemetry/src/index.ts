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
 * Where spans go follows the SDK's standard variables: `OTEL_TRACES_EXPORTER` (a comma-separated list of `otlp`,
 * `zipkin`, `console`, or `none`; the services' configuration rejects anything else) with the endpoint variables of
 * each exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_ZIPKIN_ENDPOINT`). When `OTEL_TRACES_EXPORTER` is
 * unset, spans go over OTLP http/protobuf if an OTLP endpoint is set. With no exporter, or `none`, spans are still
 * created (trace ids reach the logs, the next hop and the edge's `traceresponse` header) but nothing is exported, and
 * shutdown does not wait for a collector.
 */
export function startTelemetry(opts: TelemetryOptions): void {
  if (sdk) return;
  const env = opts.env ?? process.env;
  if (env.OTEL_SDK_DISABLED === 'true') return;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const otlpEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // 'env': the SDK builds the exporters OTEL_TRACES_EXPORTER names (otlp, zipkin, console), each in a batch processor
  // tuned by OTEL_BSP_*; 'otlp': the default of this platform; 'none': spans are made and dropped.
  const route =
    exporters.length > 0 ? (exporters.includes('none') ? 'none' : 'env') : otlpEndpoint ? 'otlp' : 'none';
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
    // OTLP over http/protobuf; the endpoint and headers come from the standard OTEL_* variables. Without an exporter
    // spans are still made (trace ids for logs and propagation) and dropped: an empty processor list would leave
    // no tracer provider at all.
    // The SDK wraps an exporter in a batch processor tuned by the standard OTEL_BSP_* variables.
    ...(route === 'otlp' ? { traceExporter: new OTLPTraceExporter() } : {}),
    ...(route === 'none' ? { spanProcessors: [new NoopSpanProcessor()] } : {}),
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
