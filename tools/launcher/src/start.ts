import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ZIPKIN_VERSION, type Infra, type RunningZipkin } from '@shop/infra';
import { infraUp } from './infra';
import { pretty, say } from './log';
import { PROFILES, type Args } from './options';
import { NODE_FLAGS, root } from './paths';
import { issuerPortAt, servicesAt, type ServicePorts } from './ports';
import { build, waitExit, waitReady, watchParent } from './proc';
import { startTraceViewer, traceViewerAt, traceViewerEnv } from './traces';

const HELP = `npm start [-- --reset] [-- --prometheus] [-- --traces] [-- --open] [-- --name N --pg-port P --kafka-port K --port-offset O]

Provisions PostgreSQL (a database and a role per service) and a single-node Kafka broker, starts the local
OpenID Connect issuer (tools/issuer), then inventory, payments, orders and gateway, with one combined log.
Ctrl+C or SIGTERM (to npm or to this process) stops everything. A process that exits is restarted after
1 s, 2 s, 4 s ... up to 30 s.

Sign-in: the issuer on http://127.0.0.1:8090 has the demo customers alice (password alice-demo) and bob
(bob-demo) and the operator ops (ops-demo); \`npm run token -- alice\` prints an access token for scripts,
sent as 'Authorization: Bearer <token>'. Its keys and accounts persist in .local/<name>/issuer;
\`kill -HUP <issuer pid>\` rotates its signing key (the old one stays published until its tokens expire).

  --reset        wipe the local state (.local/dev: databases, Kafka log, credentials, issuer keys and accounts)
                 before starting
  --prometheus   also run a local Prometheus (Debian package 'prometheus') on 127.0.0.1:9090 with the
                 platform's rules, scraping every service
  --traces       also run the trace viewer (Zipkin ${ZIPKIN_VERSION}, fetched once from Maven Central; Java 17+)
                 on 127.0.0.1:9411 (plus the offset); every service sends it its spans; the console links
                 each order to its trace there
  --open         AUTH_MODE=open on every service: today's open edge, no token needed and customerId taken from
                 the request, for labs that need it. Loudly logged; never for anything reachable by others.
  --name N       state in .local/N instead of .local/dev (a second platform beside the first)
  --pg-port P    PostgreSQL port (55432)
  --kafka-port K Kafka port (59092; the controller uses K+1)
  --port-offset O  added to every service port (8080, 9101-9103, 50051-50053), the issuer's (8090) and the
                 trace viewer's (9411); demo and the other tools expect the defaults
Environment: KAFKA_BROKERS (use an existing broker), SHOP_POSTGRES_URL (admin URL of an existing PostgreSQL),
LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT (export traces over OTLP http/protobuf), ISSUER_PORT (8090).`;

/** A service's environment under `npm start`: its ports, its database, the broker and its upstreams. */
export function serviceEnv(
  svc: ServicePorts,
  infra: Pick<Infra, 'databaseUrls' | 'kafkaBrokers'>,
  upstreams: Record<string, string>,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BIND_HOST: '127.0.0.1',
    HTTP_PORT: String(svc.httpPort),
    // The fault admin API of the incident labs (`npm run lab -- <id> --attach`); always on 127.0.0.1.
    ADMIN_PORT: String(svc.adminPort),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    DEPLOYMENT_ENVIRONMENT: process.env.DEPLOYMENT_ENVIRONMENT ?? 'local',
    ...upstreams,
  };
  if (svc.grpcPort) env.GRPC_PORT = String(svc.grpcPort);
  const databaseUrl = infra.databaseUrls[svc.name];
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  if (svc.name !== 'gateway') env.KAFKA_BROKERS = infra.kafkaBrokers;
  return env;
}

/** The gRPC addresses of the backends, for the services that call them (`ORDERS_ADDR` ...). */
export function upstreamsOf(services: ServicePorts[]): Record<string, string> {
  const upstreams: Record<string, string> = {};
  for (const s of services)
    if (s.grpcPort) upstreams[`${s.name.toUpperCase()}_ADDR`] = `127.0.0.1:${s.grpcPort}`;
  // The console's operator view reads and switches the faults of every service through the gateway.
  upstreams.FAULT_ADMIN_URLS = services.map((s) => `${s.name}=http://127.0.0.1:${s.adminPort}`).join(',');
  return upstreams;
}

/**
 * What every service gets about identity: the issuer whose tokens it accepts (OIDC_ISSUER; the audience, claims
 * and JWKS come from the defaults of @shop/platform's auth configuration and the issuer's discovery), or AUTH_MODE=open.
 */
export function authEnv(issuerUrl: string, open: boolean): Record<string, string> {
  return open ? { AUTH_MODE: 'open', OIDC_ISSUER: issuerUrl } : { AUTH_MODE: 'oidc', OIDC_ISSUER: issuerUrl };
}

/** The issuer's entry point (tools/issuer); in its command line, which proves the process is ours. */
export const issuerMain = join(root, 'tools', 'issuer', 'dist', 'src', 'main.js');

/** Starts the built issuer as a process, with an IPC channel (it stops when the launcher dies). */
export function spawnIssuer(
  opts: { port: number; stateDir: string; consoleOrigins: string[] },
  stdio: 'pipe' | 'ignore',
): ChildProcess {
  return spawn(process.execPath, [...NODE_FLAGS, issuerMain], {
    cwd: join(root, 'tools', 'issuer'),
    env: {
      ...process.env,
      ISSUER_PORT: String(opts.port),
      ISSUER_HOST: '127.0.0.1',
      ISSUER_STATE_DIR: opts.stateDir,
      ISSUER_CONSOLE_ORIGINS: opts.consoleOrigins.join(','),
    },
    stdio: ['ignore', stdio, stdio, 'ipc'],
  });
}

/** The absolute path of a service's entry point: it is in the service's command line, which proves it is ours. */
export const serviceMain = (name: string) => join(root, 'services', name, 'dist', 'src', 'main.js');

/** Starts a built service the way its container does (instrumentation first), with an IPC channel to us. */
export function spawnService(name: string, env: NodeJS.ProcessEnv, stdio: 'pipe' | 'ignore'): ChildProcess {
  // The IPC channel closes when the launcher dies, however it dies; the service then shuts itself down
  // (@shop/platform runService), so that it never outlives the launcher.
  return spawn(
    process.execPath,
    [...NODE_FLAGS, '--require', './dist/src/instrumentation.js', serviceMain(name)],
    {
      cwd: join(root, 'services', name),
      env,
      stdio: ['ignore', stdio, stdio, 'ipc'],
    },
  );
}

// A service that dies is restarted, as a Deployment's pod would be: after 1 s, doubling up to 30 s while it keeps
// dying, back to 1 s once it has stayed up for a minute. Exit code 2 (invalid configuration) is not retried.
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_AFTER_MS = 60_000;
const restartDelay = (attempt: number) => Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** attempt);

interface RestartState {
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  startedAt: number;
}

/** `npm start`. */
export async function startPlatform(args: Args): Promise<void> {
  if (args.has('--help')) {
    console.log(HELP);
    return;
  }
  const profile = args.namedProfile({ name: 'dev', ...PROFILES.dev });
  const offset = args.intOpt('port-offset', 0);
  const children = new Map<string, ChildProcess>();
  const restarts = new Map<string, RestartState>();
  let stopping = false;
  let infra: Infra | undefined;
  let prometheus: ChildProcess | undefined;
  const tracing = args.has('--traces') ? traceViewerAt(offset) : undefined;
  let traces: Promise<RunningZipkin | undefined> | undefined;
  let issuer: ChildProcess | undefined;
  let issuerTimer: NodeJS.Timeout | undefined;
  let unwatchParent: () => void = () => undefined;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    unwatchParent();
    for (const r of restarts.values()) clearTimeout(r.timer);
    clearTimeout(issuerTimer);
    say('platform', 'stopping services...');
    const exits = [...children.values()].map((c) => {
      c.kill('SIGTERM');
      return waitExit(c, 7000);
    });
    if (prometheus) {
      prometheus.kill('SIGTERM');
      exits.push(waitExit(prometheus, 3000));
    }
    await Promise.all(exits);
    await (await traces?.catch(() => undefined))?.stop();
    // The issuer last: a service draining its last requests may still fetch the JWKS.
    if (issuer) {
      issuer.kill('SIGTERM');
      await waitExit(issuer, 3000);
    }
    if (infra) {
      say('platform', 'stopping Kafka and PostgreSQL...');
      await infra.stop().catch((err: Error) => say('platform', `infrastructure stop failed: ${err.message}`));
    }
    say('platform', 'stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  process.on('SIGHUP', () => void stopAll(0));
  unwatchParent = watchParent((parent) => {
    say('platform', `the process that started this run (pid ${parent}) is gone; stopping everything`);
    void stopAll(0);
  });

  await build();
  if (stopping) return;
  // After the build: the ports come from the services' compiled configuration.
  const services = servicesAt(offset);
  const gatewayPort = services.find((s) => s.name === 'gateway')?.httpPort;
  const issuerPort = issuerPortAt(offset);
  const issuerUrl = `http://127.0.0.1:${issuerPort}`;
  const open = args.has('--open');
  const upstreams = {
    ...upstreamsOf(services),
    ...authEnv(issuerUrl, open),
    // The console links the saga metrics of an order to this Prometheus.
    ...(args.has('--prometheus') ? { METRICS_UI_URL: 'http://127.0.0.1:9090' } : {}),
  };
  try {
    // PostgreSQL's routine LOG lines (checkpoints, connections) would drown the services' logs; keep its problems.
    infra = await infraUp(
      profile,
      args.has('--reset'),
      (source, line) => {
        if (source !== 'postgres' || /\b(WARNING|ERROR|FATAL|PANIC):/.test(line)) say(source, line);
      },
      { watchdog: true },
    );
  } catch (err) {
    say('platform', `could not provision the infrastructure:\n${(err as Error).message}`);
    process.exit(1);
  }
  const up = infra;
  for (const line of up.describe()) say('infra', line);
  if (stopping) return;

  // The viewer's JVM starts beside the issuer and the services (its address is known up front); the summary waits
  // for it.
  if (tracing) traces = startTraceViewer(profile.stateDir, offset, up);

  // The issuer before the services: they read its discovery document and keys. Supervised like them.
  const issuerState = join(profile.stateDir, 'issuer');
  mkdirSync(issuerState, { recursive: true, mode: 0o700 });
  let issuerAttempt = 0;
  const launchIssuer = () => {
    const child = spawnIssuer(
      { port: issuerPort, stateDir: issuerState, consoleOrigins: [`http://127.0.0.1:${gatewayPort}`] },
      'pipe',
    );
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (l) => say('issuer', pretty(l)));
    }
    const startedAt = Date.now();
    child.on('exit', (code, signal) => {
      if (child.pid) up.untrack(child.pid);
      if (stopping || issuer !== child) return;
      if (code === 2) return say('platform', 'issuer exited (invalid configuration); not restarting it');
      if (Date.now() - startedAt >= RESTART_RESET_AFTER_MS) issuerAttempt = 0;
      const delay = restartDelay(issuerAttempt++);
      say('platform', `issuer exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000} s`);
      issuerTimer = setTimeout(() => {
        if (!stopping) issuer = launchIssuer();
      }, delay);
    });
    if (child.pid) up.track('issuer', child.pid, issuerMain);
    return child;
  };
  issuer = launchIssuer();
  const issuerReady = await waitReady(`${issuerUrl}/healthz`, 30_000);
  if (stopping) return;
  if (!issuerReady)
    say('platform', `the issuer is NOT READY on ${issuerUrl} after 30 s; starting the services anyway`);
  if (open)
    say(
      'platform',
      '!!! --open: AUTH_MODE=open on every service: NO AUTHENTICATION at the edge, any caller may act as any customer. ' +
        'For labs that need the old open edge only. !!!',
    );

  const launch = (svc: ServicePorts) => {
    const env = {
      ...serviceEnv(svc, up, upstreams),
      ...(tracing ? traceViewerEnv(tracing, svc.name) : {}),
    };
    const child = spawnService(svc.name, env, 'pipe');
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (l) => say(svc.name, pretty(l)));
    }
    child.on('exit', (code, signal) => onExit(svc, child, code, signal));
    children.set(svc.name, child);
    const state = restarts.get(svc.name) ?? { attempt: 0, timer: undefined, startedAt: 0 };
    state.startedAt = Date.now();
    restarts.set(svc.name, state);
    if (child.pid) up.track(svc.name, child.pid, serviceMain(svc.name));
    return child;
  };
  function onExit(svc: ServicePorts, child: ChildProcess, code: number | null, signal: string | null) {
    if (child.pid) up.untrack(child.pid);
    if (children.get(svc.name) === child) children.delete(svc.name);
    if (stopping) return;
    const how = signal ?? `code ${code}`;
    if (code === 2) {
      say(
        'platform',
        `${svc.name} exited (${how}: invalid configuration); not restarting it. Ctrl+C to stop.`,
      );
      return;
    }
    const state = restarts.get(svc.name) ?? { attempt: 0, timer: undefined, startedAt: Date.now() };
    const upMs = Date.now() - state.startedAt;
    if (upMs >= RESTART_RESET_AFTER_MS) state.attempt = 0;
    const delay = restartDelay(state.attempt);
    state.attempt += 1;
    say(
      'platform',
      `${svc.name} exited (${how}) after ${Math.round(upMs / 1000)} s; restarting it in ${delay / 1000} s (restart ${state.attempt}); the others keep running`,
    );
    state.timer = setTimeout(() => {
      if (stopping) return;
      const restarted = launch(svc);
      say('platform', `${svc.name} restarted (pid ${restarted.pid})`);
      void waitReady(`http://127.0.0.1:${svc.httpPort}/readyz`, 90_000).then((ok) => {
        if (!stopping && children.get(svc.name) === restarted)
          say('platform', ok ? `${svc.name} ready again` : `${svc.name} NOT READY 90 s after its restart`);
      });
    }, delay);
  }
  for (const svc of services) launch(svc);

  if (args.has('--prometheus')) prometheus = startPrometheus(profile.stateDir);

  const results = await Promise.all(
    services.map((s) => waitReady(`http://127.0.0.1:${s.httpPort}/readyz`, 90_000)),
  );
  if (stopping) return;
  const viewer = await traces?.catch((err: Error) => {
    say('platform', `--traces: the trace viewer did not start:\n${err.message}`);
    void stopAll(1);
    return undefined;
  });
  if (stopping) return;
  if (viewer) say('traces', viewer.description);
  const lines = services.map(
    (s, i) =>
      `${s.name.padEnd(10)} ${results[i] ? 'ready    ' : 'NOT READY'} http://127.0.0.1:${s.httpPort}` +
      (s.grpcPort ? `  grpc 127.0.0.1:${s.grpcPort}` : '  (REST edge)'),
  );
  lines.push(
    `${'issuer'.padEnd(10)} ${issuerReady ? 'ready    ' : 'NOT READY'} ${issuerUrl}  (OpenID Connect; pid ${issuer?.pid})`,
  );
  const edge = `http://127.0.0.1:${gatewayPort}`;
  const tokenCmd = `npm run -s token -- alice${offset ? ` --issuer ${issuerUrl}` : ''}`;
  const accounts =
    `  Accounts   alice / alice-demo, bob / bob-demo (customers), ops / ops-demo (operator); sign up on the login page\n` +
    `  Token      ${tokenCmd}    (prints an access token, 15 min)\n` +
    (open
      ? '  AUTH_MODE=open: the edge takes no tokens (--open)\n'
      : `  Try: curl -H "Authorization: Bearer $(${tokenCmd})" ${edge}/v1/orders\n`);
  say(
    'platform',
    `\n  ${lines.join('\n  ')}\n${accounts}  PostgreSQL ${up.adminDatabaseUrl.replace(/:[^:@/]*@/, ':***@')}\n  Kafka      ${up.kafkaBrokers}\n${prometheus ? '  Prometheus http://127.0.0.1:9090\n' : ''}${viewer ? `  Traces     ${viewer.uiUrl}/ (an order's trace: ${viewer.uiUrl}/traces/<trace id>)\n` : ''}  Console    ${edge}/  (API docs ${edge}/docs)\n  Catalogue  curl ${edge}/v1/products (public)    Stop: Ctrl+C`,
  );
}

function startPrometheus(stateDir: string): ChildProcess | undefined {
  const bin = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
  if (!bin) {
    say(
      'platform',
      "--prometheus: the 'prometheus' binary is not installed (Debian: apt-get install prometheus); skipping it",
    );
    return undefined;
  }
  const dataDir = join(stateDir, 'prometheus');
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(
    bin,
    [
      `--config.file=${join(root, 'observability', 'prometheus', 'prometheus.local.yml')}`,
      `--storage.tsdb.path=${dataDir}`,
      '--web.listen-address=127.0.0.1:9090',
    ],
    { cwd: join(root, 'observability', 'prometheus'), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => {
      if (/level=(warn|error)/i.test(l)) say('prometheus', l);
    });
  }
  return child;
}
