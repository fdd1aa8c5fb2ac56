// A real Prometheus beside the lab's platform, loaded with the project's own rules (observability/prometheus/rules),
// so a lab's observe phase can show the alert a person on call would get, evaluated by Prometheus itself rather than
// re-implemented in the lab. It scrapes every 2 s and evaluates every second: an alert's expression holds within
// a few seconds of the break, so the alert is `pending` during observe (it would fire after its `for:`).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(__dirname, '..', '..', '..');
const RULES = join(ROOT, 'observability', 'prometheus', 'rules', '*.yml');

export interface AlertState {
  name: string;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  /** When its expression started to hold (ms epoch). */
  activeAt: number;
  value: number;
}

export interface Prometheus {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Whether this runner owns it (own platform) or found one running (`npm start -- --prometheus`). */
  readonly owned: boolean;
  /** The alerts that are pending or firing now. */
  alerts(): Promise<AlertState[]>;
  /** The scrape targets and how their last scrape went. */
  targets(): Promise<TargetHealth[]>;
  /** An instant query; the first sample's value, or undefined for an empty result. */
  query(promql: string): Promise<number | undefined>;
  /**
   * Owned only: a fresh TSDB, so the rules' windows hold this lab's samples and nothing of an earlier lab's (5 min
   * of an earlier lab's 2xx traffic would dilute this lab's error ratio under the alert's threshold). Resolves once
   * every target has been scraped, or after 20 s.
   */
  fresh(): Promise<void>;
  /** Owned only: the scrape targets, job = service name (rules and SLOs select on it). */
  setTargets(targets: { job: string; port: number }[]): void;
  stop(): Promise<void>;
}

export const prometheusBinary = (): string | undefined =>
  spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim() || undefined;

async function api<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
  return body.data;
}

async function ready(url: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return false;
}

export interface TargetHealth {
  job: string;
  instance: string;
  health: string;
  lastError: string;
  lastScrapeDuration: number;
}

/** The active scrape targets and how their last scrape went (/api/v1/targets). */
async function targetHealth(url: string): Promise<TargetHealth[]> {
  const data = await api<{
    activeTargets: {
      labels: Record<string, string>;
      health: string;
      lastError: string;
      lastScrapeDuration: number;
    }[];
  }>(url, '/api/v1/targets?state=active');
  return data.activeTargets.map((t) => ({
    job: t.labels.job ?? '',
    instance: t.labels.instance ?? '',
    health: t.health,
    lastError: t.lastError,
    lastScrapeDuration: t.lastScrapeDuration,
  }));
}

function client(url: string) {
  return {
    targets: () => targetHealth(url),
    async alerts(): Promise<AlertState[]> {
      const data = await api<{
        alerts: { labels: Record<string, string>; state: string; activeAt: string; value: string }[];
      }>(url, '/api/v1/alerts');
      return data.alerts
        .filter((a) => a.state === 'pending' || a.state === 'firing')
        .map((a) => ({
          name: a.labels.alertname ?? '',
          state: a.state as 'pending' | 'firing',
          labels: a.labels,
          activeAt: Date.parse(a.activeAt),
          value: Number(a.value),
        }));
    },
    async query(promql: string): Promise<number | undefined> {
      const data = await api<{ result: { value: [number, string] }[] }>(
        url,
        `/api/v1/query?query=${encodeURIComponent(promql)}`,
      );
      const first = data.result[0];
      return first ? Number(first.value[1]) : undefined;
    },
  };
}

/** The one `npm start -- --prometheus` runs (127.0.0.1:9090, 15 s intervals), if it is up. */
export async function findPrometheus(url = 'http://127.0.0.1:9090'): Promise<Prometheus | undefined> {
  if (!(await ready(url, 1000))) return undefined;
  const unsupported = () => {
    throw new Error('not owned by the lab runner');
  };
  return {
    url,
    owned: false,
    ...client(url),
    fresh: () => Promise.resolve(),
    setTargets: unsupported,
    stop: () => Promise.resolve(),
  };
}

/**
 * Starts Prometheus on 127.0.0.1:`port` with its data in `dir`. Undefined when the binary is not installed (Debian:
 * `apt-get install prometheus`); the labs then grade without alert checks and say so.
 */
export async function startPrometheus(opts: {
  dir: string;
  port: number;
  targets: { job: string; port: number }[];
  say: (line: string) => void;
}): Promise<Prometheus | undefined> {
  const bin = prometheusBinary();
  if (!bin) return undefined;
  const url = `http://127.0.0.1:${opts.port}`;
  const dataDir = join(opts.dir, 'data');
  const targetsFile = join(opts.dir, 'targets.json');
  const configFile = join(opts.dir, 'prometheus.yml');
  mkdirSync(opts.dir, { recursive: true });
  const writeTargets = (targets: { job: string; port: number }[]) => {
    // file_sd: Prometheus watches the file, so replicas join and leave without a reload. Written then renamed, so
    // it never reads half a file.
    const groups = targets.map((t) => ({ targets: [`127.0.0.1:${t.port}`], labels: { job: t.job } }));
    writeFileSync(`${targetsFile}.tmp`, JSON.stringify(groups));
    renameSync(`${targetsFile}.tmp`, targetsFile);
  };
  writeTargets(opts.targets);
  writeFileSync(
    configFile,
    [
      '# Written by the lab runner (labs/src/prometheus.ts): the project rules, short intervals.',
      // 2 s, not 1 s: a /metrics answer slower than the timeout on a loaded machine is a failed scrape, and a rate
      // needs two samples in its window.
      'global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 1s, external_labels: {environment: lab}}',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      '  - job_name: services',
      `    file_sd_configs: [{files: [${JSON.stringify(targetsFile)}]}]`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn(
      bin,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        '--storage.tsdb.retention.time=2h',
        `--web.listen-address=127.0.0.1:${opts.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child = c;
    if (!(await ready(url, 20_000))) {
      c.kill('SIGKILL');
      throw new Error(`Prometheus did not become ready on ${url} in 20 s: ${stderr.trim().slice(-800)}`);
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  rmSync(dataDir, { recursive: true, force: true });
  await start();
  opts.say(`Prometheus ${url} (project rules, 2 s scrape, 1 s evaluation)`);
  return {
    url,
    owned: true,
    ...client(url),
    async fresh() {
      // Its data is thrown away: no graceful shutdown (a TSDB head flush) to wait for.
      await stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      await start();
      // Every target scraped once before the break: a rate needs that first sample as its baseline.
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        const targets = await targetHealth(url).catch(() => []);
        if (targets.length > 0 && targets.every((t) => t.health === 'up')) return;
        await sleep(250);
      }
    },
    setTargets: writeTargets,
    stop: () => stop(),
  };
}

/**
 * Waits (bounded) until Prometheus has `alert` pending or firing with an `activeAt` not before `since`, i.e. its
 * expression started to hold during this lab; returns it, or undefined when it did not within `timeoutMs`.
 */
export async function waitForAlert(
  prom: Prometheus,
  alert: string,
  opts: { since: number; timeoutMs: number; labels?: Record<string, string> },
): Promise<AlertState | undefined> {
  const until = Date.now() + opts.timeoutMs;
  for (;;) {
    const found = (await prom.alerts()).find(
      (a) =>
        a.name === alert &&
        a.activeAt >= opts.since - 1000 &&
        Object.entries(opts.labels ?? {}).every(([k, v]) => a.labels[k] === v),
    );
    if (found || Date.now() >= until) return found;
    await sleep(500);
  }
}
