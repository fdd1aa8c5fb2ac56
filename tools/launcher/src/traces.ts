// `npm start -- --traces`: the local trace viewer (Zipkin, from @shop/infra) and what the services need to send it
// their spans and to link to it.
import { startZipkin, ZIPKIN_DEFAULT_PORT, type Infra, type RunningZipkin } from '@shop/infra';
import { say } from './log';

/** Where the viewer of a platform started with `--port-offset offset` listens: 127.0.0.1:9411 + offset. */
export function traceViewerAt(
  offset: number,
): Pick<RunningZipkin, 'url' | 'uiUrl' | 'spansUrl'> & { port: number } {
  const port = ZIPKIN_DEFAULT_PORT + offset;
  const url = `http://127.0.0.1:${port}`;
  return { port, url, uiUrl: `${url}/zipkin`, spansUrl: `${url}/api/v2/spans` };
}

/** Starts the viewer, recorded in the run's lock (so it is stopped with the rest if the launcher dies). */
export function startTraceViewer(
  stateDir: string,
  offset: number,
  infra: Pick<Infra, 'track'>,
): Promise<RunningZipkin> {
  return startZipkin({
    stateDir,
    port: traceViewerAt(offset).port,
    log: (_source, line) => say('traces', line),
    track: (name, pid, marker) => infra.track(name, pid, marker),
  });
}

/**
 * A service's telemetry variables with the viewer on: spans to Zipkin (and still over OTLP when the caller set an
 * OTLP endpoint), and for the gateway the base of trace links, `${TRACES_UI_URL}/traces/<trace id>`.
 */
export function traceViewerEnv(
  viewer: Pick<RunningZipkin, 'spansUrl' | 'uiUrl'>,
  service: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const otlp = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  return {
    OTEL_TRACES_EXPORTER: otlp ? 'zipkin,otlp' : 'zipkin',
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: viewer.spansUrl,
    // Spans reach the viewer within a second rather than the SDK's default five.
    OTEL_BSP_SCHEDULE_DELAY: env.OTEL_BSP_SCHEDULE_DELAY ?? '1000',
    ...(service === 'gateway' ? { TRACES_UI_URL: viewer.uiUrl } : {}),
  };
}
