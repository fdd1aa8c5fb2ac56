// CPU time and memory of the platform's processes, from /proc (Linux): the processes the platform's lock file lists
// (packages/infra/src/lock.ts: postgres, kafka, the issuer, the four services), each with its descendants (the
// PostgreSQL backends). CPU: utime + stime of the process and of its live descendants, plus cutime + cstime (the
// children it has reaped since), so a backend that ends during the run is still counted. Memory: RSS summed over the
// tree, and PSS (shared pages split between the processes sharing them, as PostgreSQL's shared buffers are).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux the platform runs on). */
const HZ = 100;

interface LockFile {
  processes?: { name: string; pid: number }[];
}

/** The platform's processes from its lock file (`.local/<name>/infra.lock`); [] when there is none. */
export function platformProcesses(lockFile: string): { name: string; pid: number }[] {
  try {
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as LockFile;
    return (lock.processes ?? []).filter((p) => Number.isInteger(p.pid) && p.pid > 0);
  } catch {
    return [];
  }
}

interface Stat {
  ppid: number;
  /** utime + stime, and cutime + cstime, in ticks. */
  own: number;
  reaped: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command may contain spaces and parentheses: the fields start after the last ')'.
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3]);
    return { ppid: n(4), own: n(14) + n(15), reaped: n(16) + n(17) };
  } catch {
    return undefined;
  }
}

/** Every live process's parent, once per snapshot. */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = stat(Number(e));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(e));
    children.set(s.ppid, list);
  }
  return children;
}

function tree(pid: number, children: Map<number, number[]>): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds used so far by `pid` and its descendants (live ones, and those it has reaped). */
function cpuOfTree(pid: number, children: Map<number, number[]>): number {
  const root = stat(pid);
  if (!root) return NaN;
  let ticks = root.reaped;
  for (const p of tree(pid, children)) ticks += stat(p)?.own ?? 0;
  return ticks / HZ;
}

function memOfTree(pid: number, children: Map<number, number[]>): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const p of tree(pid, children)) {
    try {
      const text = readFileSync(join('/proc', String(p), 'smaps_rollup'), 'utf8');
      rss += Number(/^Rss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
    } catch {
      // gone in between
    }
  }
  return { rss, pss };
}

export interface ProcessUsage {
  name: string;
  pid: number;
  cpuSeconds: number;
  /** The highest seen while sampling, bytes. */
  rss: number;
  pss: number;
}

/**
 * Measures `procs` (plus this process as `driver`) from now until `stop()`: CPU seconds used in between, and the
 * peak RSS/PSS of each tree and of their sum, sampled every `everyMs`.
 */
export function measureProcesses(procs: { name: string; pid: number }[], everyMs = 1000) {
  const startChildren = parents();
  const start = new Map(procs.map((p) => [p.pid, cpuOfTree(p.pid, startChildren)]));
  const driverStart = process.cpuUsage();
  const peak = new Map<number, { rss: number; pss: number }>();
  let peakTotal = { rss: 0, pss: 0 };
  const sample = () => {
    const children = parents();
    let rss = 0;
    let pss = 0;
    for (const p of procs) {
      const m = memOfTree(p.pid, children);
      const prev = peak.get(p.pid) ?? { rss: 0, pss: 0 };
      peak.set(p.pid, { rss: Math.max(prev.rss, m.rss), pss: Math.max(prev.pss, m.pss) });
      rss += m.rss;
      pss += m.pss;
    }
    peakTotal = { rss: Math.max(peakTotal.rss, rss), pss: Math.max(peakTotal.pss, pss) };
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop(): { processes: ProcessUsage[]; driverCpuSeconds: number; peakRss: number; peakPss: number } {
      clearInterval(timer);
      sample();
      const children = parents();
      const d = process.cpuUsage(driverStart);
      return {
        processes: procs.map((p) => ({
          name: p.name,
          pid: p.pid,
          cpuSeconds: cpuOfTree(p.pid, children) - (start.get(p.pid) ?? NaN),
          rss: peak.get(p.pid)?.rss ?? 0,
          pss: peak.get(p.pid)?.pss ?? 0,
        })),
        driverCpuSeconds: (d.user + d.system) / 1e6,
        peakRss: peakTotal.rss,
        peakPss: peakTotal.pss,
      };
    },
  };
}
