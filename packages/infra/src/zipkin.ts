import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findJava } from './kafka.js';
import { mavenFile } from './maven.js';
import { pipeLines } from './postgres.js';
import { assertPortFree } from './ports.js';
import { tailFile, terminate, waitFor } from './proc.js';
import type { Logger } from './types.js';

/**
 * The local trace viewer: OpenZipkin's server (collector, in-memory storage and the Lens UI in one self-contained
 * jar, Apache-2.0) from Maven Central. Jaeger v2 builds from its Go module but that module ships no UI, and no
 * registry serves the Jaeger UI's build; Zipkin's jar carries its own.
 */
export const ZIPKIN_VERSION = '3.6.1';
/** SHA-256 of zipkin-server-3.6.1-exec.jar as Maven Central publishes it (its .sha256); its .sha1 is checked too. */
const ZIPKIN_SHA256 = 'd8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1';
const ZIPKIN_PATH = `io/zipkin/zipkin-server/${ZIPKIN_VERSION}/zipkin-server-${ZIPKIN_VERSION}-exec.jar`;
export const ZIPKIN_DEFAULT_PORT = 9411;
/** Bounded heap: with MEM_MAX_SPANS below, a resident size of about 250 MB (docs/tracing.md). */
const HEAP = '256m';
const MAX_SPANS = 50_000;
const READY_TIMEOUT_MS = 120_000;

export function zipkinCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'cloud-native-shop', `zipkin-${ZIPKIN_VERSION}`);
}

/** The server's jar, fetched once from Maven Central into ~/.cache/cloud-native-shop/zipkin-<version>/, verified. */
export function zipkinJar(env: NodeJS.ProcessEnv, log: Logger, repository?: string): Promise<string> {
  return mavenFile(
    {
      label: `Zipkin server ${ZIPKIN_VERSION}`,
      path: ZIPKIN_PATH,
      sha256: ZIPKIN_SHA256,
      target: join(zipkinCacheDir(env), `zipkin-server-${ZIPKIN_VERSION}-exec.jar`),
      ...(repository ? { repository } : {}),
    },
    log,
  );
}

export interface ZipkinStartOptions {
  /** Logs go to <stateDir>/zipkin/console.log; the JVM's command line names the state dir (proof it is ours). */
  stateDir: string;
  /** 127.0.0.1:port serves the UI (/zipkin/), the API (/api/v2/...) and the span collector (/api/v2/spans). */
  port: number;
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** Called with the JVM's PID as soon as it runs (the launcher records it in its infra lock). */
  track?: (name: string, pid: number, marker: string) => void;
}

export interface RunningZipkin {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The UI's base: `${uiUrl}/traces/<trace id>` opens one trace. */
  uiUrl: string;
  /** What OTEL_EXPORTER_ZIPKIN_ENDPOINT is set to (Zipkin v2 JSON spans). */
  spansUrl: string;
  pid: number;
  description: string;
  stop(): Promise<void>;
}

/**
 * Starts Zipkin on 127.0.0.1 (Java 17+, the same Java the Kafka broker uses), in its own process group so that
 * Ctrl+C reaches the launcher only; resolves once /health answers 200 (bounded), rejects with the log's tail if the
 * JVM exits first.
 */
export async function startZipkin(opts: ZipkinStartOptions): Promise<RunningZipkin> {
  const env = opts.env ?? process.env;
  const java = findJava(env);
  if (!java.ok)
    throw new Error(
      `the trace viewer (Zipkin ${ZIPKIN_VERSION}) needs Java 17+: ${java.reason} (e.g. apt-get install -y openjdk-17-jre-headless)`,
    );
  await assertPortFree(opts.port, 'Zipkin', 'choose another port (npm start: --port-offset)');
  const jar = await zipkinJar(env, opts.log);
  const dir = join(opts.stateDir, 'zipkin');
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'console.log');
  const consoleLog = createWriteStream(logFile, { flags: 'a' });
  const zipkinEnv: NodeJS.ProcessEnv = { ...env };
  // Only the HTTP collector and the UI: a transport variable left in the caller's environment would turn on a
  // Kafka, RabbitMQ, ActiveMQ or Pulsar collector.
  for (const name of [
    'KAFKA_BOOTSTRAP_SERVERS',
    'RABBIT_ADDRESSES',
    'RABBIT_URI',
    'ACTIVEMQ_URL',
    'PULSAR_SERVICE_URL',
    'JAVA_TOOL_OPTIONS',
  ])
    delete zipkinEnv[name];
  Object.assign(zipkinEnv, {
    STORAGE_TYPE: 'mem',
    MEM_MAX_SPANS: String(MAX_SPANS),
    COLLECTOR_GRPC_ENABLED: 'false',
    SELF_TRACING_ENABLED: 'false',
  });
  const child = spawn(
    java.bin,
    [
      `-Xmx${HEAP}`,
      '-Xss512k',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dshop.infra.state=${opts.stateDir}`,
      '-jar',
      jar,
      // Armeria's port list replaces the default one (0.0.0.0:9411) entirely: address, port and protocol.
      '--armeria.ports[0].ip=127.0.0.1',
      `--armeria.ports[0].port=${opts.port}`,
      '--armeria.ports[0].protocols[0]=http',
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: zipkinEnv, cwd: dir },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${java.bin}`);
  opts.track?.('zipkin', pid, opts.stateDir);
  pipeLines(child, (line) => {
    consoleLog.write(`${line}\n`);
    if (/\b(WARN|ERROR)\b/.test(line) && !/MeterFilter is being configured/.test(line))
      opts.log('infra', `zipkin: ${line}`);
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    await terminate(pid, 'SIGTERM', 5000, true);
    await Promise.race([exitedPromise, new Promise((r) => setTimeout(r, 1000))]);
    consoleLog.end();
  };
  const url = `http://127.0.0.1:${opts.port}`;
  const started = Date.now();
  const ready = await waitFor(
    async () => {
      if (exited) return true;
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    READY_TIMEOUT_MS,
    500,
  );
  if (exited || !ready) {
    await stop();
    throw new Error(
      `Zipkin ${exited ? 'exited during start-up' : `did not answer ${url}/health within ${READY_TIMEOUT_MS / 1000} s`}:\n${tailFile(logFile, 15)}\n(see ${logFile})`,
    );
  }
  return {
    url,
    uiUrl: `${url}/zipkin`,
    spansUrl: `${url}/api/v2/spans`,
    pid,
    description: `Zipkin ${ZIPKIN_VERSION} via local Java ${java.version} on ${url} (UI ${url}/zipkin/), pid ${pid}, heap ${HEAP}, in memory (at most ${MAX_SPANS} spans, none kept across restarts), ready in ${Math.round((Date.now() - started) / 1000)} s, log ${logFile}`,
    stop,
  };
}
