// The platform a lab runs against: its own (PostgreSQL and Kafka from @shop/infra, the four services as processes
// with admin ports, logs kept in memory) or the one `npm start` runs (--attach: no logs, no restarts).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALL_TOPICS } from '@shop/contracts';
import { defaultPorts, issuerUrlAt } from '@shop/launcher/dist/src/ports';
import { startInfra } from '@shop/infra';
import type { Infra } from '@shop/infra';
import { startIssuer } from '@shop/issuer';
import type { RunningIssuer } from '@shop/issuer';
import { IdentityClient } from '@shop/testkit';
import type { CpuLimiter, CpuResources } from './cgroups';
import { cpuLimiter, removeStaleCgroups, validateResources } from './cgroups';
import type { Prometheus } from './prometheus';
import { findPrometheus, startPrometheus } from './prometheus';

export const SERVICE_NAMES = ['inventory', 'payments', 'orders', 'gateway'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Endpoints {
  http: number;
  grpc: number;
  admin: number;
}

export interface LogLine {
  at: number;
  service: ServiceName;
  /** The replica slot (0..2) of startReplica; undefined for the service itself. */
  replica?: number;
  json: Record<string, unknown> | undefined;
  text: string;
}

export interface Platform {
  readonly mode: 'own' | 'attach';
  readonly ports: Record<ServiceName, Endpoints>;
  /** http://127.0.0.1:<port> of the REST edge. */
  readonly edge: string;
  /** The OpenID Connect issuer whose tokens the services accept (own platform: one of its own; --attach: npm start's). */
  readonly issuer: string;
  /** Signs the labs' customers and the operator in at `issuer` (real code + PKCE sign-ins, tokens cached). */
  readonly identity: IdentityClient;
  /** Superuser URL of the platform's PostgreSQL (own platform only). */
  readonly adminDatabaseUrl?: string;
  /** The platform's state directory (own platform only). */
  readonly stateDir?: string;
  /** Log lines of a service since `since` (ms epoch); undefined when the logs are not visible (attach). */
  logs(service: ServiceName, since: number): LogLine[] | undefined;
  /** Restarts a service with these variables over its baseline (own platform only). */
  restart(service: ServiceName, env: Record<string, string>): Promise<void>;
  /** The variables a service runs with beyond the baseline (what a fix or a break changed). */
  overrides(service: ServiceName): Record<string, string>;
  /** PID of a service's process (own platform; undefined with --attach or while it is down). */
  pid(service: ServiceName): number | undefined;
  /**
   * Another instance of a service (own platform only): the baseline variables plus `env`, other ports (slot 0..2 of
   * REPLICA_SLOTS), the same database and Kafka. Resolves when it is ready.
   */
  startReplica(
    service: ServiceName,
    slot: number,
    env?: Record<string, string>,
    resources?: CpuResources,
  ): Promise<Endpoints>;
  /** SIGTERM to a replica, wait for its exit, start it again (runtime faults kept, as restart does). */
  restartReplica(service: ServiceName, slot: number, env?: Record<string, string>): Promise<void>;
  /** SIGTERM to a replica and wait for its exit (SIGKILL after 15 s). */
  stopReplica(service: ServiceName, slot: number): Promise<void>;
  /** The replicas running now. */
  replicas(): { service: ServiceName; slot: number; ports: Endpoints }[];
  /**
   * A CPU limit on a running service (slot undefined) or replica, as a pod's resources (own platform only, as root):
   * its process moves into a cgroup of its own with that quota, kept across restarts; undefined removes it. The
   * in-place resize of a pod (InPlacePodVerticalScaling): no restart.
   */
  setResources(service: ServiceName, resources: CpuResources | undefined, slot?: number): Promise<void>;
  /** The CPU resources a service or replica runs with (undefined: unlimited). */
  resources(service: ServiceName, slot?: number): CpuResources | undefined;
  /**
   * A real Prometheus with the project's rules scraping this platform (own platform: started beside it when the
   * binary is installed; --attach: `npm start -- --prometheus` on 9090 if it runs). Undefined otherwise.
   */
  readonly prometheus?: Prometheus;
  stop(): Promise<void>;
}

const ROOT = join(__dirname, '..', '..', '..');
const NODE_FLAGS = ['--disable-warning=TimeoutNegativeWarning'];

/**
 * The ports of `npm start`, admin API included: the launcher's own table (tools/launcher/src/ports.ts), which reads
 * each service's defaults from its configuration, so no port is written down twice.
 */
export function attachPorts(): Record<ServiceName, Endpoints> {
  const table = new Map(defaultPorts().map((s) => [s.name, s]));
  const of = (svc: ServiceName): Endpoints => {
    const p = table.get(svc);
    if (!p) throw new Error(`the launcher has no ports for ${svc}`);
    return { http: p.httpPort, grpc: p.grpcPort, admin: p.adminPort };
  };
  return {
    gateway: of('gateway'),
    orders: of('orders'),
    inventory: of('inventory'),
    payments: of('payments'),
  };
}

export async function waitReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // At least one try, even with no time to wait.
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return true;
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
}

/**
 * Waits until every service answers /readyz 200 (a service the supervisor is restarting, or one still draining a
 * backlog a lab left behind, is not ready yet); throws naming the services that are not ready after `timeoutMs`.
 */
export async function waitPlatformReady(
  platform: Pick<Platform, 'ports'>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set<ServiceName>(SERVICE_NAMES);
  while (pending.size > 0) {
    for (const svc of [...pending])
      if (await waitReady(`http://127.0.0.1:${platform.ports[svc].http}/readyz`, 0)) pending.delete(svc);
    if (pending.size === 0) return;
    if (Date.now() >= deadline)
      throw new Error(`not ready after ${timeoutMs / 1000} s: ${[...pending].join(', ')} (/readyz)`);
    await sleep(250);
  }
}

export async function attachPlatform(): Promise<Platform> {
  const ports = attachPorts();
  if (!(await waitReady(`http://127.0.0.1:${ports.gateway.http}/readyz`, 2000)))
    throw new Error('--attach: nothing ready on http://127.0.0.1:8080 (start the platform with `npm start`)');
  // The issuer of `npm start` (the launcher's port table: 8090, or ISSUER_PORT).
  const issuer = issuerUrlAt(0);
  if (!(await waitReady(`${issuer}/healthz`, 2000)))
    throw new Error(
      `--attach: no issuer answering on ${issuer} (\`npm start\` runs it; ISSUER_PORT moves it)`,
    );
  // The saga invariants (@shop/load's consistency check) read every order as the operator of this issuer.
  process.env.OIDC_ISSUER = issuer;
  const prometheus = await findPrometheus();
  return {
    mode: 'attach',
    ports,
    prometheus,
    edge: `http://127.0.0.1:${ports.gateway.http}`,
    issuer,
    identity: new IdentityClient(issuer),
    logs: () => undefined,
    pid: () => undefined,
    restart: (service) =>
      Promise.reject(
        new Error(
          `--attach cannot restart ${service}: restart \`npm start\` with the variables this lab names, or run the lab without --attach`,
        ),
      ),
    overrides: () => ({}),
    startReplica: () =>
      Promise.reject(new Error('--attach cannot start replicas: run the lab without --attach')),
    restartReplica: () => Promise.reject(new Error('--attach has no replicas')),
    stopReplica: () => Promise.resolve(),
    replicas: () => [],
    setResources: () =>
      Promise.reject(
        new Error('--attach cannot set CPU limits on `npm start`: run the lab without --attach'),
      ),
    resources: () => undefined,
    stop: () => Promise.resolve(),
  };
}

export interface OwnPlatformOptions {
  stateDir: string;
  postgresPort: number;
  /** Kafka listens on kafkaPort and kafkaPort + 1 (controller). */
  kafkaPort: number;
  /** Service ports are basePort + offsets (gateway http +0, orders +1/+11/+21, ...). */
  basePort: number;
  /** Variables every service gets (the lab baseline, e.g. a short SAGA_STEP_TIMEOUT_MS). */
  env?: Record<string, string>;
  say?: (line: string) => void;
  reset?: boolean;
}

const MAX_LOG_LINES = 20_000;

/**
 * Ports of replica slot k (0..2) beside the services' own (basePort + 0..3, 11..13, 20..23): HTTP +4+k, admin +7+k,
 * gRPC +14+k. basePort + 10 is left to a lab's balancer (labs/src/balancer.ts).
 */
export const REPLICA_SLOTS = 3;
export const replicaPorts = (basePort: number, slot: number): Endpoints => ({
  http: basePort + 4 + slot,
  admin: basePort + 7 + slot,
  grpc: basePort + 14 + slot,
});
export const balancerPort = (basePort: number) => basePort + 10;
/** The lab platform's Prometheus (labs/src/prometheus.ts). */
export const prometheusPort = (basePort: number) => basePort + 30;
/** The lab platform's OpenID Connect issuer (tools/issuer, in the lab's process). */
export const issuerPort = (basePort: number) => basePort + 31;

async function activeFaults(adminPort: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/faults`, { signal: AbortSignal.timeout(5000) });
  const view = (await res.json()) as { active: { name: string; params: Record<string, unknown> }[] };
  return Object.fromEntries(view.active.map((f) => [f.name, f.params]));
}

/** Starts PostgreSQL, Kafka and the four services; `stop()` stops all of it (by PID). */
export async function startOwnPlatform(opts: OwnPlatformOptions): Promise<Platform> {
  const say = opts.say ?? (() => undefined);
  const b = opts.basePort;
  const ports: Record<ServiceName, Endpoints> = {
    gateway: { http: b, grpc: 0, admin: b + 20 },
    orders: { http: b + 1, grpc: b + 11, admin: b + 21 },
    inventory: { http: b + 2, grpc: b + 12, admin: b + 22 },
    payments: { http: b + 3, grpc: b + 13, admin: b + 23 },
  };
  say(`starting PostgreSQL :${opts.postgresPort} and Kafka :${opts.kafkaPort} in ${opts.stateDir}`);
  const infra: Infra = await startInfra({
    stateDir: opts.stateDir,
    services: ['orders', 'inventory', 'payments'],
    postgresPort: opts.postgresPort,
    kafkaPort: opts.kafkaPort,
    topics: [...ALL_TOPICS],
    reset: opts.reset ?? false,
    log: () => undefined,
  });
  // The issuer first: the services read its discovery document and keys. Keys and accounts in the state dir.
  let issuer: RunningIssuer;
  try {
    issuer = await startIssuer({
      port: issuerPort(b),
      stateDir: join(opts.stateDir, 'issuer'),
      consoleOrigins: [`http://127.0.0.1:${ports.gateway.http}`],
    });
  } catch (err) {
    await infra.stop();
    throw err;
  }
  say(`issuer ${issuer.url} (accounts alice, bob, ops; the labs register customers of their own)`);
  // The saga invariants (@shop/load's consistency check, run by the lab runner) sign in as this issuer's operator.
  process.env.OIDC_ISSUER = issuer.url;
  const identity = new IdentityClient(issuer.url);
  const logs: LogLine[] = [];
  const children = new Map<string, ChildProcess>();
  const extra = new Map<string, Record<string, string>>();
  const restarts = new Map<string, number>();
  let stopping = false;
  const replicas = new Map<string, { service: ServiceName; slot: number; ports: Endpoints }>();
  const keyOf = (svc: ServiceName, slot?: number) => (slot === undefined ? svc : `${svc}#${slot}`);
  // CPU limits: one cgroup per process under a parent named after this platform's ports (two platforms side by side
  // never share one), created on first use so that a machine without writable cgroups runs every other lab.
  const limits = new Map<string, CpuResources>();
  let limiter: CpuLimiter | undefined;
  const cgroupOf = (key: string) => key.replace('#', '-');
  const limitProcess = (key: string, pid: number | undefined) => {
    const r = limits.get(key);
    if (!r || pid === undefined) return;
    limiter ??= cpuLimiter(`shop-lab-${b}`);
    limiter.apply(cgroupOf(key), pid, r);
  };

  const envOf = (svc: ServiceName, slot?: number): NodeJS.ProcessEnv => {
    const p = slot === undefined ? ports[svc] : replicaPorts(b, slot);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BIND_HOST: '127.0.0.1',
      HTTP_PORT: String(p.http),
      ADMIN_PORT: String(p.admin),
      LOG_LEVEL: 'info',
      ORDERS_ADDR: `127.0.0.1:${ports.orders.grpc}`,
      INVENTORY_ADDR: `127.0.0.1:${ports.inventory.grpc}`,
      PAYMENTS_ADDR: `127.0.0.1:${ports.payments.grpc}`,
      SHUTDOWN_TIMEOUT_MS: '5000',
      STARTUP_TIMEOUT_MS: '60000',
      AUTH_MODE: 'oidc',
      OIDC_ISSUER: issuer.url,
      ...opts.env,
      ...extra.get(keyOf(svc, slot)),
    };
    if (p.grpc) env.GRPC_PORT = String(p.grpc);
    // The console's operator view of the faults (docs/console.md): the gateway reads each service's fault admin API.
    if (svc === 'gateway')
      env.FAULT_ADMIN_URLS = (Object.keys(ports) as ServiceName[])
        .map((name) => `${name}=http://127.0.0.1:${ports[name].admin}`)
        .join(',');
    const url = infra.databaseUrls[svc];
    if (url) env.DATABASE_URL = url;
    if (svc !== 'gateway') env.KAFKA_BROKERS = infra.kafkaBrokers;
    return env;
  };

  const spawnService = (svc: ServiceName, slot?: number) => {
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, '--require', './dist/src/instrumentation.js', 'dist/src/main.js'],
      { cwd: join(ROOT, 'services', svc), env: envOf(svc, slot), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (text) => {
        let json: Record<string, unknown> | undefined;
        try {
          json = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        } catch {
          json = undefined;
        }
        logs.push({
          at: Date.now(),
          service: svc,
          ...(slot === undefined ? {} : { replica: slot }),
          json,
          text,
        });
        if (logs.length > MAX_LOG_LINES) logs.splice(0, logs.length - MAX_LOG_LINES);
      });
    }
    const key = keyOf(svc, slot);
    children.set(key, child);
    // Into its cgroup before it has run much: a pod's container starts under its limit.
    try {
      limitProcess(key, child.pid);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    // Supervised as a Deployment's pod would be: a service that dies without being stopped (kill -9, a crash) is
    // started again, after 1 s doubling to 30 s; the delay is forgotten once it has stayed up 60 s.
    const started = Date.now();
    child.once('exit', (code, signal) => {
      if (children.get(key) !== child || stopping) return;
      children.delete(key);
      const attempt = Date.now() - started > 60_000 ? 0 : (restarts.get(key) ?? 0);
      restarts.set(key, attempt + 1);
      const delay = Math.min(30_000, 1000 * 2 ** attempt);
      say(`${key} exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000} s`);
      const timer = setTimeout(() => {
        if (!stopping && !children.has(key)) spawnService(svc, slot);
      }, delay);
      timer.unref();
    });
    return child;
  };

  const stopService = async (svc: ServiceName, slot?: number) => {
    const child = children.get(keyOf(svc, slot));
    children.delete(keyOf(svc, slot));
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await closed;
    clearTimeout(t);
  };

  const ready = async (svc: ServiceName, slot?: number) => {
    const port = slot === undefined ? ports[svc].http : replicaPorts(b, slot).http;
    if (!(await waitReady(`http://127.0.0.1:${port}/readyz`, 120_000)))
      throw new Error(
        `${keyOf(svc, slot)} did not become ready in 120 s; its last lines:\n${logs
          .filter((l) => l.service === svc && l.replica === slot)
          .slice(-15)
          .map((l) => l.text)
          .join('\n')}`,
      );
  };

  let prometheus: Prometheus | undefined;
  // Job = service name, as on a cluster (the rules and SLOs select on it); replicas join their service's job.
  const scrapeTargets = () => [
    ...SERVICE_NAMES.map((svc) => ({ job: svc, port: ports[svc].http })),
    ...[...replicas.values()].map((r) => ({ job: r.service, port: r.ports.http })),
  ];
  const platform: Platform = {
    mode: 'own',
    ports,
    get prometheus() {
      return prometheus;
    },
    adminDatabaseUrl: infra.adminDatabaseUrl,
    stateDir: opts.stateDir,
    edge: `http://127.0.0.1:${ports.gateway.http}`,
    issuer: issuer.url,
    identity,
    logs: (service, since) => logs.filter((l) => l.service === service && l.at >= since),
    async startReplica(svc, slot, env = {}, resources) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= REPLICA_SLOTS)
        throw new Error(`replica slot ${slot}: 0..${REPLICA_SLOTS - 1}`);
      const key = keyOf(svc, slot);
      if (replicas.has(key)) throw new Error(`replica ${key} is already running`);
      if (resources) validateResources(resources);
      const p = replicaPorts(b, slot);
      say(
        `starting replica ${key} (http ${p.http}, admin ${p.admin}${svc === 'gateway' ? '' : `, grpc ${p.grpc}`})${Object.keys(env).length ? ` with ${JSON.stringify(env)}` : ''}${resources ? `, CPU limit ${resources.limitCores}, request ${resources.requestCores}` : ''}`,
      );
      extra.set(key, env);
      if (resources) limits.set(key, resources);
      replicas.set(key, { service: svc, slot, ports: svc === 'gateway' ? { ...p, grpc: 0 } : p });
      spawnService(svc, slot);
      await ready(svc, slot);
      prometheus?.setTargets(scrapeTargets());
      return p;
    },
    async restartReplica(svc, slot, env) {
      const key = keyOf(svc, slot);
      if (!replicas.has(key)) throw new Error(`no replica ${key}`);
      const active = await activeFaults(replicaPorts(b, slot).admin).catch(() => ({}));
      const next = env ?? extra.get(key) ?? {};
      const carried: Record<string, string> =
        Object.keys(active).length > 0 && next.FAULTS === undefined ? { FAULTS: JSON.stringify(active) } : {};
      say(`SIGTERM to replica ${key}, then start it again${env ? ` with ${JSON.stringify(env)}` : ''}`);
      await stopService(svc, slot);
      extra.set(key, { ...next, ...carried });
      spawnService(svc, slot);
      await ready(svc, slot);
    },
    async stopReplica(svc, slot) {
      const key = keyOf(svc, slot);
      if (!replicas.has(key)) return;
      say(`stopping replica ${key}`);
      await stopService(svc, slot);
      replicas.delete(key);
      extra.delete(key);
      if (limits.delete(key)) limiter?.release(cgroupOf(key));
      prometheus?.setTargets(scrapeTargets());
    },
    async setResources(svc, resources, slot) {
      const key = keyOf(svc, slot);
      if (slot !== undefined && !replicas.has(key)) throw new Error(`no replica ${key}`);
      if (!resources) {
        if (!limits.delete(key)) return;
        say(`CPU limit of ${key} removed`);
        limiter?.release(cgroupOf(key));
        return;
      }
      validateResources(resources);
      say(`CPU of ${key}: limit ${resources.limitCores}, request ${resources.requestCores} (in place)`);
      limits.set(key, resources);
      limitProcess(key, children.get(key)?.pid);
      return Promise.resolve();
    },
    resources: (svc, slot) => limits.get(keyOf(svc, slot)),
    replicas: () => [...replicas.values()],
    overrides: (svc) => ({ ...extra.get(svc) }),
    pid: (svc) => children.get(svc)?.pid,
    async restart(svc, env) {
      // Faults switched on at runtime are part of what is deployed (the slow code path, the producer ahead): a
      // restart keeps them, through FAULTS, unless the caller says otherwise. Reset turns them off before restarting.
      const active = await activeFaults(ports[svc].admin);
      const carried: Record<string, string> =
        Object.keys(active).length > 0 && env.FAULTS === undefined ? { FAULTS: JSON.stringify(active) } : {};
      say(
        `restarting ${svc}${Object.keys(env).length ? ` with ${JSON.stringify(env)}` : ''}${carried.FAULTS ? ` (faults kept: ${Object.keys(active).join(', ')})` : ''}`,
      );
      await stopService(svc);
      extra.set(svc, { ...env, ...carried });
      spawnService(svc);
      await ready(svc);
      await ready('gateway');
    },
    async stop() {
      stopping = true;
      for (const r of [...replicas.values()]) await stopService(r.service, r.slot);
      replicas.clear();
      for (const svc of [...SERVICE_NAMES].reverse()) await stopService(svc);
      limits.clear();
      try {
        limiter?.removeAll();
      } finally {
        await prometheus?.stop();
        await issuer.stop();
        await infra.stop();
      }
    },
  };
  try {
    removeStaleCgroups(`shop-lab-${b}`);
    say('starting inventory, payments, orders, gateway');
    for (const svc of SERVICE_NAMES) spawnService(svc);
    for (const svc of SERVICE_NAMES) await ready(svc);
    prometheus = await startPrometheus({
      dir: join(opts.stateDir, 'prometheus'),
      port: prometheusPort(b),
      targets: scrapeTargets(),
      say,
    });
    if (!prometheus)
      say("no 'prometheus' binary (Debian: apt-get install prometheus): labs grade without the alert checks");
  } catch (err) {
    await platform.stop();
    throw err;
  }
  return platform;
}
