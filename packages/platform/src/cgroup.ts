// The process's own CPU cgroup, read at scrape time: the CFS quota it runs under (a pod's resources.limits.cpu) and
// how often that quota throttled it. On a cluster cAdvisor exports the same per container
// (container_cpu_cfs_throttled_periods_total); the service exporting it itself keeps the signal next to its latency
// on every platform that has cgroups (a VM's systemd slice, docker run --cpus, a pod). cgroup v1 (the `cpu`
// controller's hierarchy) and v2 (the unified hierarchy with the cpu controller) are both read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import client from 'prom-client';
import type { Registry } from './metrics';

export interface CpuStat {
  /** CFS enforcement periods that elapsed while the cgroup had runnable tasks. */
  periods: number;
  /** Of those, periods in which the quota ran out and the cgroup's tasks waited for the next period. */
  throttledPeriods: number;
  throttledSeconds: number;
}

export interface CpuCgroup {
  version: 1 | 2;
  /** Directory of the cgroup in this process's mount namespace. */
  dir: string;
  /** quota / period in cores; undefined without a limit. */
  limitCores: number | undefined;
  stat: CpuStat;
}

/** `key value` lines of cpu.stat (v1: nr_periods, nr_throttled, throttled_time ns; v2: ..., throttled_usec). */
export function parseCpuStat(text: string): CpuStat | undefined {
  const kv = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(\d+)$/.exec(line.trim());
    if (m?.[1] && m[2]) kv.set(m[1], Number(m[2]));
  }
  const periods = kv.get('nr_periods');
  const throttledPeriods = kv.get('nr_throttled');
  const ns = kv.get('throttled_time');
  const us = kv.get('throttled_usec');
  // v2 without the cpu controller enabled has usage only: nothing about a quota to report.
  if (periods === undefined || throttledPeriods === undefined || (ns === undefined && us === undefined))
    return undefined;
  return { periods, throttledPeriods, throttledSeconds: ns !== undefined ? ns / 1e9 : (us ?? 0) / 1e6 };
}

/** cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us (-1: no limit), in cores. */
export function limitFromV1(quotaText: string, periodText: string): number | undefined {
  const quota = Number(quotaText.trim());
  const period = Number(periodText.trim());
  if (!Number.isFinite(quota) || quota <= 0 || !Number.isFinite(period) || period <= 0) return undefined;
  return quota / period;
}

/** cgroup v2 cpu.max: `<quota|max> <period>`, in cores. */
export function limitFromV2(cpuMax: string): number | undefined {
  const [quota, period] = cpuMax.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? 100_000);
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined;
}

export interface ProcCgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

/** /proc/<pid>/cgroup: `hierarchy-id:controller,list:/path` (v2: `0::/path`). */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m?.[1] || m[3] === undefined) continue;
    out.push({ hierarchy: m[1], controllers: m[2] ? m[2].split(',') : [], path: m[3] });
  }
  return out;
}

export interface CgroupMount {
  version: 1 | 2;
  /** The hierarchy path mounted there (a container's own cgroup when the namespace is not virtualised). */
  root: string;
  mountPoint: string;
  /** v1: the controllers bound to the hierarchy. */
  controllers: string[];
}

/** The cgroup mounts of /proc/self/mountinfo (`id parent maj:min root mountpoint opts - fstype source superopts`). */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    const [fstype, , superOpts = ''] = post.split(' ');
    const root = fields[3];
    const mountPoint = fields[4]?.replace(/\\040/g, ' ');
    if (!root || !mountPoint) continue;
    if (fstype === 'cgroup2') out.push({ version: 2, root, mountPoint, controllers: [] });
    else if (fstype === 'cgroup')
      out.push({ version: 1, root, mountPoint, controllers: superOpts.split(',') });
  }
  return out;
}

/** Where the cgroup `path` of /proc/self/cgroup is on `mount` (the mount may start below the hierarchy root). */
function dirOf(mount: CgroupMount, path: string): string {
  const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return join(mount.mountPoint, rel);
}

const read = (file: string) => readFileSync(file, 'utf8');

/**
 * This process's CPU cgroup with its limit and throttling counters; undefined where there is none to read (no
 * cgroups, not Linux, /sys not mounted, v2 without the cpu controller). The v1 `cpu` hierarchy wins on a hybrid
 * machine, because that is where the controller (and so the quota) is.
 */
export function readCpuCgroup(
  procCgroup = '/proc/self/cgroup',
  mountinfo = '/proc/self/mountinfo',
): CpuCgroup | undefined {
  let lines: ProcCgroupLine[];
  let mounts: CgroupMount[];
  try {
    lines = parseProcCgroup(read(procCgroup));
    mounts = parseMountinfo(read(mountinfo));
  } catch {
    return undefined;
  }
  const v1 = lines.find((l) => l.controllers.includes('cpu'));
  const v1Mount = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  try {
    if (v1 && v1Mount) {
      const dir = dirOf(v1Mount, v1.path);
      const stat = parseCpuStat(read(join(dir, 'cpu.stat')));
      if (!stat) return undefined;
      const limitCores = limitFromV1(
        read(join(dir, 'cpu.cfs_quota_us')),
        read(join(dir, 'cpu.cfs_period_us')),
      );
      return { version: 1, dir, limitCores, stat };
    }
    const v2 = lines.find((l) => l.hierarchy === '0' && l.controllers.length === 0);
    const v2Mount = mounts.find((m) => m.version === 2);
    if (!v2 || !v2Mount) return undefined;
    const dir = dirOf(v2Mount, v2.path);
    const stat = parseCpuStat(read(join(dir, 'cpu.stat')));
    if (!stat) return undefined;
    let limitCores: number | undefined;
    try {
      limitCores = limitFromV2(read(join(dir, 'cpu.max')));
    } catch {
      // the root cgroup has no cpu.max: no limit
      limitCores = undefined;
    }
    return { version: 2, dir, limitCores, stat };
  } catch {
    return undefined;
  }
}

/** A series with no labels that is left out of the scrape (prom-client otherwise prints 0 for an unset one). */
function omit(metric: client.Counter | client.Gauge) {
  (metric as unknown as { hashMap: Record<string, unknown> }).hashMap = {};
}

/**
 * process_cpu_limit_cores and the CFS throttling counters of the process's own cgroup, read at each scrape. The
 * counters are the cgroup's own (a move to another cgroup shows as a counter reset, as a new container does); every
 * series is absent where no cgroup can be read, the limit also where there is none.
 */
export function registerCgroupMetrics(
  registry: Registry,
  readCgroup: () => CpuCgroup | undefined = readCpuCgroup,
) {
  const r = [registry];
  // One read per scrape for the four series: the first collect of a scrape reads, the others reuse it.
  let last: { at: number; cg: CpuCgroup | undefined } | undefined;
  const current = () => {
    if (!last || Date.now() - last.at > 200) last = { at: Date.now(), cg: readCgroup() };
    return last.cg;
  };
  const counter = (name: string, help: string, value: (s: CpuStat) => number) =>
    new client.Counter({
      name,
      help,
      registers: r,
      collect() {
        const cg = current();
        this.reset();
        if (!cg) return omit(this);
        this.inc(value(cg.stat));
      },
    });
  counter(
    'process_cpu_periods_total',
    'CFS enforcement periods of the process cgroup with runnable tasks (cpu.stat nr_periods)',
    (s) => s.periods,
  );
  counter(
    'process_cpu_throttled_periods_total',
    'CFS periods in which the process cgroup used up its CPU quota and waited (cpu.stat nr_throttled)',
    (s) => s.throttledPeriods,
  );
  counter(
    'process_cpu_throttled_seconds_total',
    'Time the process cgroup spent throttled by its CPU quota (cpu.stat throttled_time / throttled_usec)',
    (s) => s.throttledSeconds,
  );
  new client.Gauge({
    name: 'process_cpu_limit_cores',
    help: 'CPU limit of the process cgroup in cores (CFS quota / period); absent without a limit',
    registers: r,
    collect() {
      const limit = current()?.limitCores;
      if (limit === undefined) return omit(this);
      this.set(limit);
    },
  });
}
