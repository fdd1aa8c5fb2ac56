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

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(
    `Node.js ${process.versions.node} is too old: this project runs on Node 24 (>= 22). ` +
      'Run it through npm (`npm start`, `npm test`), which uses the Node 24 installed by `npm install` in node_modules/.bin.',
  );
  process.exit(1);
}

const SERVICES = [
  { name: 'inventory', grpcPort: 50052, httpPort: 9102, adminPort: 9182 },
  { name: 'payments', grpcPort: 50053, httpPort: 9103, adminPort: 9183 },
  { name: 'orders', grpcPort: 50051, httpPort: 9101, adminPort: 9181 },
  { name: 'gateway', grpcPort: 0, httpPort: 8080, adminPort: 9180 },
];
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

function build() {
  say('platform', 'building (turbo run build)...');
  if (run(turbo, ['run', 'build', '--output-logs=errors-only', '--log-prefix=none']) !== 0) {
    console.error('build failed: see the errors above');
    process.exit(1);
  }
}

async function infraUp(profile, reset, log) {
  const { startInfra } = require(join(root, 'packages', 'infra'));
  const { ALL_TOPICS } = require(join(root, 'packages', 'contracts'));
  const p = PROFILES[profile];
  return startInfra({
    stateDir: p.stateDir,
    services: DATA_SERVICES,
    postgresPort: p.postgresPort,
    kafkaPort: p.kafkaPort,
    topics: ALL_TOPICS,
    reset,
    log,
  });
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

function spawnService(svc, env, onExit) {
  const cwd = join(root, 'services', svc.name);
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, '--require', './dist/src/instrumentation.js', 'dist/src/main.js'],
    {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => say(svc.name, pretty(l)));
  }
  child.on('exit', (code, signal) => onExit(svc, code, signal));
  return child;
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
    console.log(`npm start [-- --reset] [-- --prometheus]

Provisions PostgreSQL (a database and a role per service) and a single-node Kafka broker, then starts
inventory, payments, orders and gateway, with one combined log. Ctrl+C or SIGTERM stops everything.

  --reset        wipe the local state (.local/dev: databases, Kafka log, credentials) before starting
  --prometheus   also run a local Prometheus (Debian package 'prometheus') on 127.0.0.1:9090 with the
                 platform's rules, scraping every service
Environment: KAFKA_BROKERS (use an existing broker), SHOP_POSTGRES_URL (admin URL of an existing PostgreSQL),
LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT (export traces over OTLP http/protobuf).`);
    return;
  }
  build();
  const children = new Map();
  let stopping = false;
  let infra;
  let prometheus;
  const stopAll = async (code) => {
    if (stopping) return;
    stopping = true;
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

  try {
    // PostgreSQL's routine LOG lines (checkpoints, connections) would drown the services' logs; keep its problems.
    infra = await infraUp('dev', args.includes('--reset'), (source, line) => {
      if (source !== 'postgres' || /\b(WARNING|ERROR|FATAL|PANIC):/.test(line)) say(source, line);
    });
  } catch (err) {
    say('platform', `could not provision the infrastructure:\n${err.message}`);
    process.exit(1);
  }
  for (const line of infra.describe()) say('infra', line);
  if (stopping) return;

  const onExit = (svc, code, signal) => {
    children.delete(svc.name);
    if (!stopping)
      say(
        'platform',
        `${svc.name} exited (${signal ?? `code ${code}`}); the others keep running. Ctrl+C to stop.`,
      );
  };
  for (const svc of SERVICES) children.set(svc.name, spawnService(svc, serviceEnv(svc, infra), onExit));

  if (args.includes('--prometheus')) prometheus = startPrometheus();

  const results = await Promise.all(
    SERVICES.map((s) => waitReady(`http://127.0.0.1:${s.httpPort}/readyz`, 90_000)),
  );
  if (stopping) return;
  const lines = SERVICES.map(
    (s, i) =>
      `${s.name.padEnd(10)} ${results[i] ? 'ready    ' : 'NOT READY'} http://127.0.0.1:${s.httpPort}` +
      (s.grpcPort ? `  grpc 127.0.0.1:${s.grpcPort}` : '  (REST edge)'),
  );
  say(
    'platform',
    `\n  ${lines.join('\n  ')}\n  PostgreSQL ${infra.adminDatabaseUrl.replace(/:[^:@/]*@/, ':***@')}\n  Kafka      ${infra.kafkaBrokers}\n${prometheus ? '  Prometheus http://127.0.0.1:9090\n' : ''}  Try: curl http://127.0.0.1:8080/v1/products    Stop: Ctrl+C`,
  );
}

function startPrometheus() {
  const bin = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
  if (!bin) {
    say(
      'platform',
      "--prometheus: the 'prometheus' binary is not installed (Debian: apt-get install prometheus); skipping it",
    );
    return undefined;
  }
  const dataDir = join(PROFILES.dev.stateDir, 'prometheus');
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
  build();
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
    infra = await infraUp('test', true, (source, line) => {
      // Tests provoke database errors on purpose (constraint checks); only a crash of the servers matters here.
      if (/\b(FATAL|PANIC)\b|exited|failed to start/i.test(line)) say(source, line);
    });
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
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1] : def;
  };
  const name = opt('name', 'infra');
  if (!/^[\w-]+$/.test(name)) throw new Error('--name: letters, digits, _ and - only');
  PROFILES[name] = {
    stateDir: join(root, '.local', name),
    postgresPort: Number(opt('pg-port', '55434')),
    kafkaPort: Number(opt('kafka-port', '59096')),
  };
  const infra = await infraUp(name, args.includes('--reset'), (source, line) => {
    if (/error|fatal/i.test(line)) say(source, line);
  });
  const envFile = join(PROFILES[name].stateDir, 'env.sh');
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
  const stop = async () => {
    await infra.stop().catch((err) => say('platform', `stop failed: ${err.message}`));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
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
    'usage: node scripts/platform.mjs start|test|infra   (normally via `npm start` and `npm test`)\n  infra --name N --pg-port P --kafka-port K [--reset]: only PostgreSQL and Kafka, env for tests in .local/N/env.sh',
  );
  process.exit(command === 'help' ? 0 : 2);
}
