import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { say } from './log';
import { PROFILES } from './options';
import { NODE_FLAGS, root, turbo } from './paths';
import { defaultPorts, SERVICE_NAMES } from './ports';
import { run, waitExit, waitReady } from './proc';

const TOOLS = ['demo', 'consistency', 'bench-saga', 'sagas', 'db', 'load'];

/** Starts `platform.mjs start` in the background (logs discarded) and waits until every service is ready. */
async function startBackgroundPlatform(extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...NODE_FLAGS, join(root, 'scripts', 'platform.mjs'), 'start'], {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const ready = await Promise.all(
    defaultPorts().map((svc) => waitReady(`http://127.0.0.1:${svc.httpPort}/readyz`, 180_000)),
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

/** The tools' environment: the admin database URL and the broker of `npm start`'s state (.local/dev). */
function toolEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const credentials = join(PROFILES.dev.stateDir, 'credentials.json');
  if (!env.SHOP_ADMIN_DATABASE_URL && existsSync(credentials)) {
    const { admin } = JSON.parse(readFileSync(credentials, 'utf8')) as {
      admin: { role: string; password: string };
    };
    env.SHOP_ADMIN_DATABASE_URL = `postgres://${encodeURIComponent(admin.role)}:${encodeURIComponent(admin.password)}@127.0.0.1:${PROFILES.dev.postgresPort}/postgres`;
  }
  env.KAFKA_BROKERS ??= `127.0.0.1:${PROFILES.dev.kafkaPort}`;
  return env;
}

const toolPath = (tool: string) => join(root, 'load', 'dist', 'src', `${tool}.js`);

/** `npm run demo`, `check:consistency`, `bench:saga`, `sagas`, `db`, `load`: the drivers of load/, on a running platform. */
export async function runTool([tool = '', ...toolArgs]: string[]): Promise<void> {
  if (!TOOLS.includes(tool)) {
    console.error(`unknown tool ${tool}; one of ${TOOLS.join(', ')}`);
    process.exit(2);
  }
  // The saga operator command works on the orders database alone, whatever the services' state: never start them.
  // So does the backup/restore command on the databases (docs/runbooks/DatabaseBackup.md).
  const offline = tool === 'sagas' || tool === 'db';
  // `npm run load -- --help` needs no platform, and `npm run load -- --gateway URL` drives that edge (a second
  // platform, a cluster's port-forward): none is started for them.
  const elsewhere =
    tool === 'load' &&
    toolArgs.some((a) => a === '--help' || a === '-h' || a === '--gateway' || a.startsWith('--gateway='));
  // The other tools drive the platform on its default ports, which the services' compiled configuration declares.
  const filters = ['@shop/load...', ...(offline ? [] : SERVICE_NAMES.map((s) => `@shop/${s}`))];
  const buildArgs = ['run', 'build', ...filters.map((f) => `--filter=${f}`)];
  if (run(turbo, [...buildArgs, '--output-logs=errors-only', '--log-prefix=none']) !== 0) process.exit(1);
  if (offline || elsewhere)
    process.exit(run(process.execPath, [...NODE_FLAGS, toolPath(tool), ...toolArgs], { env: toolEnv() }));
  // Bad options of the load generator are refused before a platform is started for it.
  if (tool === 'load') {
    const checked = run(process.execPath, [...NODE_FLAGS, toolPath(tool), '--check-options', ...toolArgs]);
    if (checked !== 0) process.exit(checked);
  }
  const gateway = defaultPorts().find((s) => s.name === 'gateway');
  const running = await waitReady(`http://127.0.0.1:${gateway?.httpPort}/readyz`, 1000);
  if (tool === 'bench-saga' && toolArgs.includes('--compare-telemetry')) {
    if (running) {
      console.error(
        '--compare-telemetry starts the platform twice (telemetry off, then on): stop the running one first',
      );
      process.exit(2);
    }
    process.exit(await compareTelemetry(toolArgs.filter((a) => a !== '--compare-telemetry')));
  }
  let platform: Awaited<ReturnType<typeof startBackgroundPlatform>> | undefined;
  if (!running) {
    // Nothing running: start the platform for the duration of the tool, and stop it afterwards.
    say('platform', `no platform answering on 127.0.0.1:${gateway?.httpPort}; starting one for this run`);
    platform = await startBackgroundPlatform();
  }
  const status = run(process.execPath, [...NODE_FLAGS, toolPath(tool), ...toolArgs], { env: toolEnv() });
  await platform?.stop();
  process.exit(status);
}

interface BenchResult {
  throughput: number;
  p50: number;
  p99: number;
}

/**
 * The cost of instrumentation, in one run: the same benchmark against the platform with the OpenTelemetry SDK
 * disabled, then with every span sampled and exported over OTLP to a receiver in this process.
 */
async function compareTelemetry(benchArgs: string[]): Promise<number> {
  const received = { requests: 0, bytes: 0 };
  const sink = createServer((req, res) => {
    req.on('data', (c: Buffer) => (received.bytes += c.length));
    req.on('end', () => {
      received.requests += 1;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const modes: { name: string; env: Record<string, string> }[] = [
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
  const results: (BenchResult & { name: string })[] = [];
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
    results.push({ name: mode.name, ...(JSON.parse(json) as BenchResult) });
  }
  sink.close();
  const [off, on] = results;
  if (!off || !on) return 1;
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
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
export function runLabs(args: string[]): never {
  const filter = ['run', 'build', '--filter=@shop/labs...', '--output-logs=errors-only', '--log-prefix=none'];
  if (run(turbo, filter) !== 0) process.exit(1);
  process.exit(run(process.execPath, [...NODE_FLAGS, join(root, 'labs', 'dist', 'src', 'cli.js'), ...args]));
}
