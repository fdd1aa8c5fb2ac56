import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureServiceCredentials } from './credentials.js';
import { ensureTopics, startKafka, type RunningKafka } from './kafka.js';
import { InfraLock, readLock, ownerAlive, AlreadyRunningError } from './lock.js';
import { processStartTime } from './proc.js';
import { waitPortsFree } from './ports.js';
import { provisionDatabases, startPostgres, type RunningPostgres } from './postgres.js';
import type { Infra, InfraOptions, Logger } from './types.js';

const NAME = /^[a-z][a-z0-9_]{0,47}$/;

/**
 * Starts (or connects to) PostgreSQL and Kafka for a state dir, provisions one database and role per service and the
 * topics, and returns the connection details. Only one run per state dir at a time (infra.lock).
 */
export async function startInfra(opts: InfraOptions): Promise<Infra> {
  const env = opts.env ?? process.env;
  const log: Logger = opts.log ?? (() => undefined);
  const stateDir = resolve(opts.stateDir);
  const prefix = opts.databasePrefix ?? '';
  for (const s of opts.services) {
    if (!NAME.test(`${prefix}${s}`))
      throw new Error(`invalid service/database name "${prefix}${s}" (lower-case letters, digits, _)`);
  }
  for (const [name, port] of [
    ['postgresPort', opts.postgresPort],
    ['kafkaPort', opts.kafkaPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65534)
      throw new Error(`${name} must be an integer between 1 and 65534, got ${port}`);
  }

  if (opts.reset && existsSync(stateDir)) {
    const lock = readLock(stateDir);
    if (lock && ownerAlive(lock)) {
      throw new AlreadyRunningError(
        `cannot reset ${stateDir}: it is in use by a running instance (pid ${lock.ownerPid}); stop it first`,
        lock,
      );
    }
    for (const entry of readdirSync(stateDir)) {
      if (entry !== 'infra.lock') rmSync(resolve(stateDir, entry), { recursive: true, force: true });
    }
    log('infra', `reset: wiped ${stateDir}`);
  }
  mkdirSync(stateDir, { recursive: true });
  // PostgreSQL runs as the user "postgres" when we are root: it must be able to enter the state dir.
  chmodSync(stateDir, 0o755);

  const lock = await InfraLock.acquire(stateDir, log);
  // Safety net for a parent that exits without calling stop() (process.exit, uncaught exception): ask our children
  // to shut down on the way out. A parent killed with SIGKILL runs no code at all; the next start cleans up then.
  const onExit = (): void => {
    for (const p of lock.processes) {
      const signal = p.name === 'postgres' ? 'SIGINT' : 'SIGTERM';
      try {
        process.kill(-p.pid, signal);
      } catch {
        try {
          process.kill(p.pid, signal); // not a group leader (a tracked service)
        } catch {
          // already gone
        }
      }
    }
  };
  process.on('exit', onExit);
  if (opts.watchdog) startWatchdog(stateDir);
  let pg: RunningPostgres | undefined;
  let kafka: RunningKafka | undefined;
  const stopAll = async (): Promise<void> => {
    const ports = [
      pg?.pid ? pg.port : undefined,
      kafka?.pid ? opts.kafkaPort : undefined,
      kafka?.pid ? opts.kafkaPort + 1 : undefined,
    ];
    const results = await Promise.allSettled([kafka?.stop(), pg?.stop()]);
    const busy = await waitPortsFree(
      ports.filter((p): p is number => p !== undefined),
      2000,
    );
    lock.release();
    process.removeListener('exit', onExit);
    const failures = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => String(r.reason));
    if (busy.length > 0) failures.push(`ports still in use after stop: ${busy.join(', ')}`);
    if (failures.length > 0) throw new Error(`stopping the local infrastructure: ${failures.join('; ')}`);
  };

  try {
    // Both start in parallel: PostgreSQL takes ~1 s, the JVM a few seconds.
    const [pgResult, kafkaResult] = await Promise.allSettled([
      startPostgres({ stateDir, port: opts.postgresPort, env, lock, log }),
      startKafka({ stateDir, port: opts.kafkaPort, env, lock, log }),
    ]);
    if (pgResult.status === 'fulfilled') pg = pgResult.value;
    if (kafkaResult.status === 'fulfilled') kafka = kafkaResult.value;
    if (pgResult.status === 'rejected') throw pgResult.reason;
    if (kafkaResult.status === 'rejected') throw kafkaResult.reason;
    if (!pg || !kafka) throw new Error('internal: infrastructure missing after start');

    const roles = Object.fromEntries(opts.services.map((s) => [s, `${prefix}${s}`]));
    const creds = ensureServiceCredentials(stateDir, roles);
    const dbs = opts.services.map((s) => {
      const c = creds.services[s];
      if (!c) throw new Error(`internal: no credentials for ${s}`);
      return { service: s, name: c.role, password: c.password };
    });
    await provisionDatabases(pg.adminUrl, dbs);
    await ensureTopics(kafka.brokers, opts.topics);

    const host = pg.host.includes(':') ? `[${pg.host}]` : pg.host;
    const databaseUrls = Object.fromEntries(
      dbs.map((d) => [d.service, `postgres://${d.name}:${d.password}@${host}:${pg?.port}/${d.name}`]),
    );
    const lines = [
      pg.description,
      `  databases (one role each, PUBLIC revoked): ${dbs.map((d) => d.name).join(', ')}; credentials in ${resolve(stateDir, 'credentials.json')} (0600)`,
      kafka.description,
      `  topics: ${opts.topics.map((t) => `${t.name}(${t.partitions})`).join(', ')}`,
      `  state: ${stateDir} (lock ${resolve(stateDir, 'infra.lock')})`,
    ];
    let stopping: Promise<void> | undefined;
    return {
      databaseUrls,
      adminDatabaseUrl: pg.adminUrl,
      kafkaBrokers: kafka.brokers,
      describe: () => [...lines],
      stop: () => (stopping ??= stopAll()),
      restartPostgres: async (restart = {}) => {
        if (stopping) throw new Error('restartPostgres: the infrastructure is stopped');
        if (!pg?.restart)
          throw new Error(
            'restartPostgres: only an embedded PostgreSQL started by startInfra can be restarted ' +
              '(not SHOP_POSTGRES_URL or a Docker container)',
          );
        const mode = restart.kill ? 'kill' : 'fast';
        log(
          'infra',
          `restarting PostgreSQL (${mode === 'kill' ? 'SIGKILL of the postmaster' : 'fast shutdown'})`,
        );
        await pg.restart(mode);
        log('infra', `PostgreSQL accepts connections again (pid ${pg.pid})`);
      },
      track: (name, pid, marker) => lock.record(name, pid, marker),
      untrack: (pid) => lock.forget(pid),
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}

/** See InfraOptions.watchdog. Detached and unreferenced: it neither receives our Ctrl+C nor keeps us alive. */
function startWatchdog(stateDir: string): void {
  const child = spawn(
    process.execPath,
    [join(__dirname, 'watchdog.js'), stateDir, String(process.pid), processStartTime(process.pid)],
    { detached: true, stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  child.unref();
}
