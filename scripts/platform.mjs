#!/usr/bin/env node
// The two commands of the Quick start: `npm start` (provision PostgreSQL and Kafka, start the four services, one
// combined log, clean stop on Ctrl+C / SIGTERM) and `npm test` (checks plus every package's tests against real
// PostgreSQL and Kafka, ending with "N passed, N failed").
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const [command = 'help', ...args] = process.argv.slice(2);

const [major, minor] = process.versions.node.split('.').map(Number);
// package.json's engines: the OpenTelemetry SDK needs >= 22.15.
if (major < 22 || (major === 22 && minor < 15)) {
  console.error(
    `Node.js ${process.versions.node} is too old: this project runs on Node 24 (>= 22.15). ` +
      'Run it through npm (`npm start`, `npm test`), which uses the Node 24 installed by `npm install` in node_modules/.bin.',
  );
  process.exit(1);
}

const BASE_SERVICES = [
  { name: 'inventory', grpcPort: 50052, httpPort: 9102, adminPort: 9182 },
  { name: 'payments', grpcPort: 50053, httpPort: 9103, adminPort: 9183 },
  { name: 'orders', grpcPort: 50051, httpPort: 9101, adminPort: 9181 },
  { name: 'gateway', grpcPort: 0, httpPort: 8080, adminPort: 9180 },
];
/** The services' ports, every one shifted by `offset` (`npm start -- --port-offset N`: a second platform beside). */
const servicesAt = (offset) =>
  BASE_SERVICES.map((s) => ({
    ...s,
    grpcPort: s.grpcPort && s.grpcPort + offset,
    httpPort: s.httpPort + offset,
    adminPort: s.adminPort + offset,
  }));
const SERVICES = servicesAt(0);
const DATA_SERVICES = ['orders', 'inventory', 'payments'];
// kafkajs computes negative timeouts on Node >= 22 (harmless, clamped to 1 ms); keep the warning out of the logs.
const NODE_FLAGS = ['--disable-warning=TimeoutNegativeWarning'];
const PROFILES = {
  dev: { stateDir: join(root, '.local', 'dev'), postgresPort: 55432, kafkaPort: 59092 },
  // SHOP_TEST_PG_PORT / SHOP_TEST_KAFKA_PORT let two clones run `npm test` side by side.
  test: {
    stateDir: join(root, '.local', 'test'),
    postgresPort: Number(process.env.SHOP_TEST_PG_PORT || 55433),
    kafkaPort: Number(process.env.SHOP_TEST_KAFKA_PORT || 59094),
  },
};

const COLORS = {
  gateway: 36,
  orders: 33,
  inventory: 32,
  payments: 35,
  postgres: 34,
  kafka: 90,
  infra: 37,
  platform: 1,
};
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (name, text) => (tty ? `\x1b[${COLORS[name] ?? 37}m${text}\x1b[0m` : text);
const say = (source, line) => process.stdout.write(`${paint(source, source.padEnd(9))} | ${line}\n`);

function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

const turbo = join(root, 'node_modules', '.bin', 'turbo');

/**
 * `turbo run build` (for `filters`, or everything), with a "still building" line every 15 s and turbo's summary, so
 * that the first build of a fresh clone (a minute or two) is not silent. Exits on failure.
 */
async function build(filters = []) {
  const started = Date.now();
  say('platform', `building (turbo run build${filters.map((f) => ` --filter=${f}`).join('')})...`);
  const child = spawn(
    turbo,
    [
      'run',
      'build',
      ...filters.map((f) => `--filter=${f}`),
      '--output-logs=errors-only',
      '--log-prefix=none',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } },
  );
  createInterface({ input: child.stdout }).on('line', (line) => {
    // turbo's summary ("Tasks: 12 successful, 12 total") and errors are worth showing; its banner is not.
    if (/^\s*(Tasks|Cached|Time|Failed):/.test(line) || /error|ERR!/i.test(line))
      say('platform', line.trim());
  });
  const tick = setInterval(
    () => say('platform', `  still building... ${Math.round((Date.now() - started) / 1000)} s`),
    15_000,
  );
  const stopBuild = () => child.kill('SIGTERM');
  process.once('SIGTERM', stopBuild);
  process.once('SIGINT', stopBuild);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearInterval(tick);
  process.removeListener('SIGTERM', stopBuild);
  process.removeListener('SIGINT', stopBuild);
  if (code !== 0) {
    console.error('build failed: see the errors above');
    process.exit(1);
  }
  say('platform', `built in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function infraUp(p, reset, log, extra = {}) {
  const { startInfra } = require(join(root, 'packages', 'infra'));
  const { ALL_TOPICS } = require(join(root, 'packages', 'contracts'));
  return startInfra({
    stateDir: p.stateDir,
    services: DATA_SERVICES,
    postgresPort: p.postgresPort,
    kafkaPort: p.kafkaPort,
    topics: ALL_TOPICS,
    reset,
    log,
    ...extra,
  });
}

/** `--name value` from the command's arguments. */
function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

function intOpt(name, def) {
  const raw = opt(name, String(def));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65534) {
    console.error(`--${name}: expected a port number (or offset), got ${raw}`);
    process.exit(2);
  }
  return n;
}

/** The profile of `--name N` (state dir .local/N) with --pg-port / --kafka-port, `base` giving the defaults. */
function namedProfile(base) {
  const name = opt('name', base.name);
  if (!/^[\w-]+$/.test(name)) {
    console.error('--name: letters, digits, _ and - only');
    process.exit(2);
  }
  return {
    name,
    stateDir: join(root, '.local', name),
    postgresPort: intOpt('pg-port', base.postgresPort),
    kafkaPort: intOpt('kafka-port', base.kafkaPort),
  };
}

/**
 * Stops the run when the process that started it is gone: npm killed by SIGKILL, or a shell between npm and us
 * killed by the signal meant for the whole run. We are then reparented, and process.ppid changes.
 */
function watchParent(onGone) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone(parent);
    }
  }, 500);
  timer.unref();
  return () => clearInterval(timer);
}

// --- npm start -------------------------------------------------------------------------------------------------

const LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
function pretty(line) {
  if (!line.startsWith('{')) return line;
  try {
    const { time, level, msg, service: _s, pid: _p, hostname: _h, ...rest } = JSON.parse(line);
    const lvl = String(typeof level === 'number' ? LEVELS[level] : (level ?? ''))
      .toUpperCase()
      .padEnd(5);
    const t = typeof time === 'string' ? time.slice(11, 23) : '';
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return `${t} ${lvl} ${msg ?? ''}${extra}`;
  } catch {
    return line;
  }
}

function serviceEnv(svc, infra, extra = {}) {
  const env = {
    ...process.env,
    BIND_HOST: '127.0.0.1',
    HTTP_PORT: String(svc.httpPort),
    // The fault admin API of the incident labs (`npm run lab -- <id> --attach`); always on 127.0.0.1.
    ADMIN_PORT: String(svc.adminPort),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ORDERS_ADDR: '127.0.0.1:50051',
    INVENTORY_ADDR: '127.0.0.1:50052',
    PAYMENTS_ADDR: '127.0.0.1:50053',
    DEPLOYMENT_ENVIRONMENT: process.env.DEPLOYMENT_ENVIRONMENT ?? 'local',
    ...extra,
  };
  if (svc.grpcPort) env.GRPC_PORT = String(svc.grpcPort);
  if (infra.databaseUrls[svc.name]) env.DATABASE_URL = infra.databaseUrls[svc.name];
  if (svc.name !== 'gateway') env.KAFKA_BROKERS = infra.kafkaBrokers;
  return env;
}

/** The absolute path of a service's entry point: it is in the service's command line, which proves it is ours. */
const serviceMain = (svc) => join(root, 'services', svc.name, 'dist', 'src', 'main.js');

function spawnService(svc, env, onExit) {
  const cwd = join(root, 'services', svc.name);
  // The IPC channel closes when the launcher dies, however it dies; the service then shuts itself down
  // (@shop/platform runService), so that it never outlives the launcher.
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, '--require', './dist/src/instrumentation.js', serviceMain(svc)],
    {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => say(svc.name, pretty(l)));
  }
  child.on('exit', (code, signal) => onExit(svc, child, code, signal));
  return child;
}

// A service that dies is restarted, as a Deployment's pod would be: after 1 s, doubling up to 30 s while it keeps
// dying, back to 1 s once it has stayed up for a minute. Exit code 2 (invalid configuration) is not retried.
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_AFTER_MS = 60_000;
function restartDelay(attempt) {
  return Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** attempt);
}

async function waitReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

function waitExit(child, ms) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    // 'close', not 'exit': the child's last log lines are read before the launcher moves on.
    child.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function startPlatform() {
  if (args.includes('--help')) {
    console.log(`npm start [-- --reset] [-- --prometheus] [-- --name N --pg-port P --kafka-port K --port-offset O]

Provisions PostgreSQL (a database and a role per service) and a single-node Kafka broker, then starts
inventory, payments, orders and gateway, with one combined log. Ctrl+C or SIGTERM (to npm or to this process)
stops everything. A service that exits is restarted after 1 s, 2 s, 4 s ... up to 30 s.

  --reset        wipe the local state (.local/dev: databases, Kafka log, credentials) before starting
  --prometheus   also run a local Prometheus (Debian package 'prometheus') on 127.0.0.1:9090 with the
                 platform's rules, scraping every service
  --name N       state in .local/N instead of .local/dev (a second platform beside the first)
  --pg-port P    PostgreSQL port (55432)
  --kafka-port K Kafka port (59092; the controller uses K+1)
  --port-offset O  added to every service port (8080, 9101-9103, 50051-50053); demo and the other tools
                 expect the defaults
Environment: KAFKA_BROKERS (use an existing broker), SHOP_POSTGRES_URL (admin URL of an existing PostgreSQL),
LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT (export traces over OTLP http/protobuf).`);
    return;
  }
  const profile = namedProfile({ name: 'dev', ...PROFILES.dev });
  const offset = intOpt('port-offset', 0);
  const services = servicesAt(offset);
  const addr = (name) => `127.0.0.1:${services.find((s) => s.name === name).grpcPort}`;
  const upstreams = {
    ORDERS_ADDR: addr('orders'),
    INVENTORY_ADDR: addr('inventory'),
    PAYMENTS_ADDR: addr('payments'),
  };
  const children = new Map();
  const restarts = new Map();
  let stopping = false;
  let infra;
  let prometheus;
  let unwatchParent = () => undefined;
  const stopAll = async (code) => {
    if (stopping) return;
    stopping = true;
    unwatchParent();
    for (const r of restarts.values()) clearTimeout(r.timer);
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
    if (infra) {
      say('platform', 'stopping Kafka and PostgreSQL...');
      await infra.stop().catch((err) => say('platform', `infrastructure stop failed: ${err.message}`));
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
  try {
    // PostgreSQL's routine LOG lines (checkpoints, connections) would drown the services' logs; keep its problems.
    infra = await infraUp(
      profile,
      args.includes('--reset'),
      (source, line) => {
        if (source !== 'postgres' || /\b(WARNING|ERROR|FATAL|PANIC):/.test(line)) say(source, line);
      },
      { watchdog: true },
    );
  } catch (err) {
    say('platform', `could not provision the infrastructure:\n${err.message}`);
    process.exit(1);
  }
  for (const line of infra.describe()) say('infra', line);
  if (stopping) return;

  const launch = (svc) => {
    const child = spawnService(svc, serviceEnv(svc, infra, upstreams), onExit);
    children.set(svc.name, child);
    const state = restarts.get(svc.name) ?? { attempt: 0, timer: undefined, startedAt: 0 };
    state.startedAt = Date.now();
    restarts.set(svc.name, state);
    if (child.pid) infra.track(svc.name, child.pid, serviceMain(svc));
    return child;
  };
  function onExit(svc, child, code, signal) {
    if (child.pid) infra.untrack(child.pid);
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
    const state = restarts.get(svc.name);
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

  if (args.includes('--prometheus')) prometheus = startPrometheus(profile.stateDir);

  const results = await Promise.all(
    services.map((s) => waitReady(`http://127.0.0.1:${s.httpPort}/readyz`, 90_000)),
  );
  if (stopping) return;
  const lines = services.map(
    (s, i) =>
      `${s.name.padEnd(10)} ${results[i] ? 'ready    ' : 'NOT READY'} http://127.0.0.1:${s.httpPort}` +
      (s.grpcPort ? `  grpc 127.0.0.1:${s.grpcPort}` : '  (REST edge)'),
  );
  say(
    'platform',
    `\n  ${lines.join('\n  ')}\n  PostgreSQL ${infra.adminDatabaseUrl.replace(/:[^:@/]*@/, ':***@')}\n  Kafka      ${infra.kafkaBrokers}\n${prometheus ? '  Prometheus http://127.0.0.1:9090\n' : ''}  Try: curl http://127.0.0.1:${services.at(-1).httpPort}/v1/products    Stop: Ctrl+C`,
  );
}

function startPrometheus(stateDir) {
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

// --- npm test --------------------------------------------------------------------------------------------------

function countTap(dir) {
  let passed = 0;
  let failed = 0;
  if (!existsSync(dir)) return { passed, failed };
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.tap'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    passed += Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
    failed +=
      Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return { passed, failed };
}

async function testPlatform() {
  const started = Date.now();
  const checks = [];
  const check = (name, status) => {
    checks.push({ name, ok: status === 0 });
    say('platform', `${status === 0 ? 'ok  ' : 'FAIL'} ${name}`);
  };
  await build();
  check(
    'format (prettier --check)',
    run(join(root, 'node_modules', '.bin', 'prettier'), ['--check', '--log-level=warn', '.']),
  );
  check(
    'typecheck and lint (turbo run typecheck lint)',
    run(turbo, ['run', 'typecheck', 'lint', '--continue', '--output-logs=errors-only']),
  );

  const reportDir = join(PROFILES.test.stateDir, 'reports');
  rmSync(reportDir, { recursive: true, force: true });
  let infra;
  let testsStatus = 1;
  try {
    infra = await infraUp(
      PROFILES.test,
      true,
      (source, line) => {
        // Tests provoke database errors on purpose (constraint checks); only a crash of the servers matters here.
        if (/\b(FATAL|PANIC)\b|exited|failed to start/i.test(line)) say(source, line);
      },
      // A test run killed by SIGKILL (a CI timeout) must not leave PostgreSQL and Kafka running.
      { watchdog: true },
    );
    for (const line of infra.describe()) say('infra', line);
    testsStatus = run(
      turbo,
      ['run', 'test', '--concurrency=1', '--continue', '--output-logs=full', '--log-order=grouped', ...args],
      {
        env: {
          ...process.env,
          TEST_REPORT_DIR: reportDir,
          KAFKA_BROKERS: infra.kafkaBrokers,
          SHOP_TEST_DATABASE_URLS: JSON.stringify(infra.databaseUrls),
          SHOP_TEST_ADMIN_DATABASE_URL: infra.adminDatabaseUrl,
        },
      },
    );
  } catch (err) {
    say('platform', `could not provision the test infrastructure: ${err.message}`);
  } finally {
    await infra?.stop().catch((err) => say('platform', `infrastructure stop failed: ${err.message}`));
  }
  const counts = countTap(reportDir);
  const checkPassed = checks.filter((c) => c.ok).length;
  const checkFailed = checks.length - checkPassed;
  // A package whose runner failed without writing a report (crash, compile error) still counts as a failure.
  const unreported = testsStatus !== 0 && counts.failed === 0 ? 1 : 0;
  const passed = counts.passed + checkPassed;
  const failed = counts.failed + checkFailed + unreported;
  console.log(
    `\ntests: ${counts.passed} passed, ${counts.failed} failed; checks: ${checkPassed} passed, ${checkFailed} failed; ${Math.round((Date.now() - started) / 1000)} s`,
  );
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

// --- infra only (for developing one package's tests) ----------------------------------------------------------

async function infraOnly() {
  if (args.includes('--help')) {
    console.log(`npm run infra -- [--name N] [--pg-port P] [--kafka-port K] [--reset]

Only PostgreSQL and Kafka (databases, roles and topics provisioned), for developing one package's tests;
the environment for those tests is written to .local/N/env.sh. Ctrl+C or SIGTERM stops both.

  --name N       state in .local/N (default: infra)
  --pg-port P    PostgreSQL port (55434)
  --kafka-port K Kafka port (59096; the controller uses K+1)
  --reset        wipe .local/N first`);
    return;
  }
  const profile = namedProfile({ name: 'infra', postgresPort: 55434, kafkaPort: 59096 });
  let infra;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await infra?.stop().catch((err) => say('platform', `stop failed: ${err.message}`));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.on('SIGHUP', () => void stop());
  watchParent(() => void stop());
  // Only what provisioning needs: the infra library and the topic list of the contracts.
  await build(['@shop/infra', '@shop/contracts']);
  if (stopping) return;
  infra = await infraUp(
    profile,
    args.includes('--reset'),
    (source, line) => {
      if (source === 'infra' || /error|fatal/i.test(line)) say(source, line);
    },
    { watchdog: true },
  );
  if (stopping) return void (await infra.stop());
  const envFile = join(profile.stateDir, 'env.sh');
  const q = (v) => `'${v.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    envFile,
    [
      `export KAFKA_BROKERS=${q(infra.kafkaBrokers)}`,
      `export SHOP_TEST_DATABASE_URLS=${q(JSON.stringify(infra.databaseUrls))}`,
      `export SHOP_TEST_ADMIN_DATABASE_URL=${q(infra.adminDatabaseUrl)}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  for (const line of infra.describe()) say('infra', line);
  say('platform', `infrastructure up; for tests: source ${envFile}   Stop: Ctrl+C or SIGTERM`);
}

// --- tools that drive a running platform (demo, consistency check, benchmark) ----------------------------------

/** Starts `platform.mjs start` in the background (logs discarded) and waits until every service is ready. */
async function startBackgroundPlatform(extraEnv = {}) {
  const child = spawn(process.execPath, [...NODE_FLAGS, join(root, 'scripts', 'platform.mjs'), 'start'], {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const ready = await Promise.all(
    SERVICES.map((svc) => waitReady(`http://127.0.0.1:${svc.httpPort}/readyz`, 180_000)),
  );
  if (ready.includes(false)) {
    child.kill('SIGTERM');
    await waitExit(child, 15_000);
    console.error('the platform did not become ready within 180 s; run `npm start` to see why');
    process.exit(1);
  }
  return {
    async stop() {
      child.kill('SIGTERM');
      await waitExit(child, 20_000);
    },
  };
}

function toolEnv() {
  const env = { ...process.env };
  const credentials = join(PROFILES.dev.stateDir, 'credentials.json');
  if (!env.SHOP_ADMIN_DATABASE_URL && existsSync(credentials)) {
    const { admin } = JSON.parse(readFileSync(credentials, 'utf8'));
    env.SHOP_ADMIN_DATABASE_URL = `postgres://${encodeURIComponent(admin.role)}:${encodeURIComponent(admin.password)}@127.0.0.1:${PROFILES.dev.postgresPort}/postgres`;
  }
  env.KAFKA_BROKERS ??= `127.0.0.1:${PROFILES.dev.kafkaPort}`;
  return env;
}

const toolPath = (tool) => join(root, 'load', 'dist', 'src', `${tool}.js`);

async function runTool() {
  const [tool, ...toolArgs] = args;
  const known = ['demo', 'consistency', 'bench-saga', 'sagas', 'db'];
  if (!known.includes(tool)) {
    console.error(`unknown tool ${tool}; one of ${known.join(', ')}`);
    process.exit(2);
  }
  if (
    run(turbo, [
      'run',
      'build',
      '--filter=@shop/load...',
      '--output-logs=errors-only',
      '--log-prefix=none',
    ]) !== 0
  ) {
    process.exit(1);
  }
  // The saga operator command works on the orders database alone, whatever the services' state: never start them.
  // So does the backup/restore command on the databases (docs/runbooks/DatabaseBackup.md).
  if (tool === 'sagas' || tool === 'db')
    process.exit(run(process.execPath, [...NODE_FLAGS, toolPath(tool), ...toolArgs], { env: toolEnv() }));
  const running = await waitReady('http://127.0.0.1:8080/readyz', 1000);
  if (tool === 'bench-saga' && toolArgs.includes('--compare-telemetry')) {
    if (running) {
      console.error(
        '--compare-telemetry starts the platform twice (telemetry off, then on): stop the running one first',
      );
      process.exit(2);
    }
    process.exit(await compareTelemetry(toolArgs.filter((a) => a !== '--compare-telemetry')));
  }
  let platform;
  if (!running) {
    // Nothing running: start the platform for the duration of the tool, and stop it afterwards.
    say('platform', 'no platform answering on 127.0.0.1:8080; starting one for this run');
    platform = await startBackgroundPlatform();
  }
  const status = run(process.execPath, [...NODE_FLAGS, toolPath(tool), ...toolArgs], { env: toolEnv() });
  await platform?.stop();
  process.exit(status);
}

/**
 * The cost of instrumentation, in one run: the same benchmark against the platform with the OpenTelemetry SDK
 * disabled, then with every span sampled and exported over OTLP to a receiver in this process.
 */
async function compareTelemetry(benchArgs) {
  const received = { requests: 0, bytes: 0 };
  const sink = createServer((req, res) => {
    req.on('data', (c) => (received.bytes += c.length));
    req.on('end', () => {
      received.requests += 1;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${sink.address().port}`;
  const modes = [
    { name: 'telemetry off', env: { OTEL_SDK_DISABLED: 'true' } },
    {
      name: 'telemetry on (100% sampled, OTLP export)',
      // A queue large enough that no span is dropped at this load: the cost measured is that of exporting them all.
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_TRACES_SAMPLER: 'always_on',
        OTEL_BSP_MAX_QUEUE_SIZE: '65536',
        OTEL_BSP_SCHEDULE_DELAY: '1000',
      },
    },
  ];
  const results = [];
  for (const mode of modes) {
    say('platform', `${mode.name}: starting the platform`);
    const platform = await startBackgroundPlatform(mode.env);
    const r = spawnSync(
      process.execPath,
      [...NODE_FLAGS, toolPath('bench-saga'), ...benchArgs, '--floor', 'false', '--json', 'true'],
      {
        cwd: root,
        env: toolEnv(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await platform.stop();
    process.stdout.write(r.stdout);
    const json = /^BENCH_RESULT (.*)$/m.exec(r.stdout ?? '')?.[1];
    if (r.status !== 0 || !json) {
      sink.close();
      return 1;
    }
    results.push({ name: mode.name, ...JSON.parse(json) });
  }
  sink.close();
  const [off, on] = results;
  const pct = (a, b) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
  console.log(`\n${'mode'.padEnd(42)} orders/s  p50 ms  p99 ms`);
  for (const r of results) {
    console.log(
      `${r.name.padEnd(42)} ${r.throughput.toFixed(1).padStart(8)}  ${r.p50.toFixed(0).padStart(6)}  ${r.p99.toFixed(0).padStart(6)}`,
    );
  }
  console.log(
    `telemetry on vs off: throughput ${pct(on.throughput, off.throughput)}, p99 ${pct(on.p99, off.p99)}; the receiver got ${received.requests} OTLP requests (${Math.round(received.bytes / 1024)} KiB)`,
  );
  return 0;
}

/** `npm run lab -- ...`: build the labs and what they start, then run the lab runner (labs/README in docs/labs). */
function runLabs() {
  const filter = ['run', 'build', '--filter=@shop/labs...', '--output-logs=errors-only', '--log-prefix=none'];
  if (run(turbo, filter) !== 0) process.exit(1);
  process.exit(run(process.execPath, [...NODE_FLAGS, join(root, 'labs', 'dist', 'src', 'cli.js'), ...args]));
}

if (command === 'start') await startPlatform();
else if (command === 'lab') runLabs();
else if (command === 'tool') await runTool();
else if (command === 'infra') await infraOnly();
else if (command === 'test') await testPlatform();
else {
  console.log(
    'usage: node scripts/platform.mjs start|test|infra|tool   (normally via `npm start`, `npm test`, `npm run infra`)\n  start --help: options of `npm start`\n  infra --name N --pg-port P --kafka-port K [--reset]: only PostgreSQL and Kafka, env for tests in .local/N/env.sh (`npm run infra -- --help`)',
  );
  process.exit(command === 'help' ? 0 : 2);
}
