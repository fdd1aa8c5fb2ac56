// The real `npm start` (scripts/platform.mjs through npm), stopped the ways people stop it: SIGTERM to npm, SIGKILL
// of the launcher, kill -9 of one service. Its own state dir and ports, so it runs beside a started platform and the
// surrounding `npm test`: PostgreSQL 55442, Kafka 59100 (+59101), services at offset 1600 (gateway 9680, orders,
// inventory, payments 10701-10703, gRPC 51651-51653).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readLock, stopLeftovers } from '../src/index.js';
import { canBind } from '../src/ports.js';
import { cmdline, isAlive, waitFor } from '../src/proc.js';

const repoRoot = join(__dirname, '..', '..', '..', '..');
const PG_PORT = 55442;
const KAFKA_PORT = 59100;
const OFFSET = 1600;
// The services' HTTP ports and the issuer's (tools/launcher/src/ports.ts), all shifted by the offset.
const SERVICE_PORTS = { gateway: 8080, orders: 9101, inventory: 9102, payments: 9103, issuer: 8090 };
const PORTS = [PG_PORT, KAFKA_PORT, KAFKA_PORT + 1, ...Object.values(SERVICE_PORTS), 50051, 50052, 50053].map(
  (p) => (p === PG_PORT || p === KAFKA_PORT || p === KAFKA_PORT + 1 ? p : p + OFFSET),
);
const NAME = `launcher-test-${process.pid}`;
const stateDir = join(repoRoot, '.local', NAME);

interface Run {
  npm: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<void>;
}

const runs: Run[] = [];

function npmStart(): Run {
  const npm = spawn(
    'npm',
    [
      'start',
      '--',
      '--name',
      NAME,
      '--pg-port',
      String(PG_PORT),
      '--kafka-port',
      String(KAFKA_PORT),
      '--port-offset',
      String(OFFSET),
    ],
    {
      cwd: repoRoot,
      // Its own PostgreSQL and Kafka, not the surrounding test run's.
      env: { ...process.env, KAFKA_BROKERS: '', SHOP_POSTGRES_URL: '', NO_COLOR: '1', LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let text = '';
  npm.stdout.on('data', (c: Buffer) => (text += c.toString()));
  npm.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  const run = { npm, output: () => text, exited };
  runs.push(run);
  return run;
}

async function waitOutput(run: Run, pattern: RegExp, timeoutMs: number): Promise<void> {
  const ok = await waitFor(() => pattern.test(run.output()), timeoutMs, 200);
  assert.ok(ok, `no ${pattern} within ${timeoutMs / 1000} s; output:\n${run.output().slice(-4000)}`);
}

const ready = (run: Run): Promise<void> => waitOutput(run, /Stop: Ctrl\+C/, 120_000);

/** Every process whose command line names the state dir (PostgreSQL, Kafka, the watchdog). */
function processesNamingStateDir(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => pid !== process.pid && cmdline(pid).includes(stateDir));
}

interface Platform {
  launcher: number;
  byName: Record<string, number>;
  all: number[];
}

function platformPids(run: Run): Platform {
  const lock = readLock(stateDir);
  assert.ok(lock, 'no infra.lock while running');
  const byName = Object.fromEntries(lock.processes.map((p) => [p.name, p.pid]));
  assert.deepEqual(
    Object.keys(byName).sort(),
    ['gateway', 'inventory', 'issuer', 'kafka', 'orders', 'payments', 'postgres'],
    'the lock records the infrastructure, the issuer and the four services',
  );
  const all = [run.npm.pid ?? 0, lock.ownerPid, ...Object.values(byName), ...processesNamingStateDir()];
  return { launcher: lock.ownerPid, byName, all: [...new Set(all)] };
}

async function assertAllGone(pids: number[], withinMs: number): Promise<void> {
  const started = Date.now();
  const gone = await waitFor(
    async () =>
      pids.every((p) => !isAlive(p)) &&
      processesNamingStateDir().length === 0 &&
      (await Promise.all(PORTS.map((p) => canBind(p)))).every(Boolean),
    withinMs,
    200,
  );
  const alive = pids.filter((p) => isAlive(p)).map((p) => `${p} (${cmdline(p).slice(0, 100)})`);
  const bound: number[] = [];
  for (const p of PORTS) if (!(await canBind(p))) bound.push(p);
  assert.ok(
    gone,
    `after ${Date.now() - started} ms still alive: ${alive.join(', ') || 'none'}; ports still bound: ${bound.join(', ') || 'none'}`,
  );
}

async function stopRun(run: Run): Promise<void> {
  if (run.npm.exitCode === null && run.npm.signalCode === null) {
    run.npm.kill('SIGTERM');
    await Promise.race([run.exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
  if (readLock(stateDir)) await stopLeftovers(stateDir, 5000);
}

void describe('npm start, stopped the ways people stop it', { concurrency: false }, () => {
  after(async () => {
    for (const run of runs) await stopRun(run);
    await stopLeftovers(stateDir, 5000);
    rmSync(stateDir, { recursive: true, force: true });
  });

  void it('SIGTERM to the npm process stops the launcher, the services, PostgreSQL and Kafka within 10 s', async () => {
    const run = npmStart();
    try {
      await ready(run);
      const { all } = platformPids(run);
      run.npm.kill('SIGTERM');
      await assertAllGone(all, 10_000);
      await run.exited;
      assert.match(run.output(), /stopping services\.\.\.[\s\S]*stopped/);
    } finally {
      await stopRun(run);
    }
  });

  void it('a service killed with kill -9 is restarted with backoff and is ready again', async () => {
    const run = npmStart();
    try {
      await ready(run);
      const before = platformPids(run);
      const victim = before.byName.inventory ?? 0;
      process.kill(victim, 'SIGKILL');
      await waitOutput(
        run,
        /inventory exited \(SIGKILL\) after \d+ s; restarting it in 1 s \(restart 1\)/,
        10_000,
      );
      await waitOutput(run, /inventory restarted \(pid \d+\)[\s\S]*inventory ready again/, 60_000);
      const res = await fetch(`http://127.0.0.1:${SERVICE_PORTS.inventory + OFFSET}/readyz`);
      assert.equal(res.status, 200);
      const after = readLock(stateDir)?.processes.find((p) => p.name === 'inventory')?.pid;
      assert.ok(after && after !== victim && isAlive(after), 'the lock records the new inventory process');
      assert.ok(!isAlive(victim));
    } finally {
      await stopRun(run);
    }
  });

  void it('SIGKILL of the launcher: its services and watchdog stop everything within 10 s', async () => {
    const run = npmStart();
    try {
      await ready(run);
      const { launcher, all } = platformPids(run);
      process.kill(launcher, 'SIGKILL');
      await assertAllGone(all, 10_000);
      const log = readFileSync(join(stateDir, 'watchdog.log'), 'utf8');
      assert.match(
        log,
        new RegExp(`owner pid ${launcher} died without stopping its processes; stopped .*kafka pid`),
      );
      assert.ok(!existsSync(join(stateDir, 'infra.lock')), 'the stale lock is removed');
      await run.exited;
    } finally {
      await stopRun(run);
    }
  });

  void it('SIGKILL of the launcher and its watchdog: the next start stops the leftovers and says so', async () => {
    const first = npmStart();
    try {
      await ready(first);
    } catch (err) {
      await stopRun(first);
      throw err;
    }
    const { launcher, byName } = platformPids(first);
    const watchdogs = processesNamingStateDir().filter((p) => cmdline(p).includes('watchdog.js'));
    assert.equal(watchdogs.length, 1, 'one watchdog per run');
    for (const p of [...watchdogs, launcher]) process.kill(p, 'SIGKILL');
    // The services see their IPC channel close and stop on their own.
    const services = ['gateway', 'orders', 'inventory', 'payments'].map((n) => byName[n] ?? 0);
    assert.ok(
      await waitFor(() => services.every((p) => !isAlive(p)), 12_000),
      'services outlived their launcher',
    );
    await first.exited;
    assert.ok(
      isAlive(byName.postgres ?? 0) && isAlive(byName.kafka ?? 0),
      'nothing stopped the infrastructure',
    );

    const second = npmStart();
    try {
      await ready(second);
      assert.match(
        second.output(),
        new RegExp(
          `removed a stale lock of crashed run pid ${launcher}; stopped its leftover processes: .*postgres pid ${byName.postgres}.*kafka pid ${byName.kafka}|removed a stale lock of crashed run pid ${launcher}; stopped its leftover processes: .*kafka pid ${byName.kafka}.*postgres pid ${byName.postgres}`,
        ),
      );
      assert.ok(!isAlive(byName.postgres ?? 0) && !isAlive(byName.kafka ?? 0));
    } finally {
      const { all } = platformPids(second);
      second.npm.kill('SIGTERM');
      await assertAllGone(all, 10_000);
    }
  });
});
