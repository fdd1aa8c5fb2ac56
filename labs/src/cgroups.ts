// CPU limits for the lab platform's processes, as a pod's resources: a cgroup per process under a parent the
// platform owns, with a CFS quota (limits.cpu: cpu.cfs_quota_us on v1, cpu.max on v2). The request is not written as
// a weight (cpu.shares / cpu.weight, as the kubelet does): the kubelet weighs pods against pods, while here the
// neighbours are plain processes at the default weight (one core's worth), and a pod-like weight would rank the lab's
// service below every one of them on a busy machine. The request is what the autoscaler's utilisation is relative
// to, as an HPA's. cgroup v1 (the `cpu` hierarchy) or v2 (unified, with the cpu controller); writing needs root, as
// the kubelet has.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupMount } from '@shop/platform/cgroup';
import { parseMountinfo, parseProcCgroup } from '@shop/platform/cgroup';

export interface CpuResources {
  /** The CFS quota in cores (resources.limits.cpu: 0.2 for "200m"). */
  limitCores: number;
  /** resources.requests.cpu in cores: what an HPA's utilisation is relative to. */
  requestCores: number;
}

const PERIOD_US = 100_000;

export function validateResources(r: CpuResources): void {
  const bad = (field: string, v: number) =>
    new Error(`CPU resources: ${field} must be a number of cores in 0.01..64, got ${String(v)}`);
  if (!Number.isFinite(r.limitCores) || r.limitCores < 0.01 || r.limitCores > 64)
    throw bad('limitCores', r.limitCores);
  if (!Number.isFinite(r.requestCores) || r.requestCores < 0.01 || r.requestCores > 64)
    throw bad('requestCores', r.requestCores);
  if (r.requestCores > r.limitCores)
    throw new Error(
      `CPU resources: requestCores (${r.requestCores}) must not exceed limitCores (${r.limitCores})`,
    );
}

export interface CpuLimiter {
  readonly version: 1 | 2;
  /** Creates or updates the cgroup `name` with these resources and moves `pid` into it. */
  apply(name: string, pid: number, r: CpuResources): void;
  /** Moves the cgroup's processes back where the platform runs and removes it. */
  release(name: string): void;
  /** Every cgroup of the parent released, and the parent removed. */
  removeAll(): void;
}

const PRECONDITION =
  'CPU limits need a writable cgroup cpu controller: run as root, with cgroup v1 (the cpu hierarchy mounted, e.g. /sys/fs/cgroup/cpu) or cgroup v2 (cpu in /sys/fs/cgroup/cgroup.controllers)';

/** A limiter whose cgroups live in `<cpu hierarchy>/<parentName>`; left-overs of an earlier run are removed first. */
export function cpuLimiter(parentName: string): CpuLimiter {
  if (!/^[\w.-]+$/.test(parentName)) throw new Error(`cgroup name ${JSON.stringify(parentName)}`);
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const own = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  const v2 = mounts.find((m) => m.version === 2);
  let version: 1 | 2;
  let mount: string;
  let home: string;
  if (v1) {
    version = 1;
    mount = v1.mountPoint;
    home = join(mount, own.find((l) => l.controllers.includes('cpu'))?.path ?? '/');
  } else if (v2 && readFileSync(join(v2.mountPoint, 'cgroup.controllers'), 'utf8').includes('cpu')) {
    version = 2;
    mount = v2.mountPoint;
    home = join(mount, own.find((l) => l.hierarchy === '0')?.path ?? '/');
  } else throw new Error(`no cgroup cpu controller in /proc/self/mountinfo. ${PRECONDITION}`);
  const parent = join(mount, parentName);

  const write = (file: string, value: string) => {
    try {
      writeFileSync(file, value);
    } catch (err) {
      throw new Error(`cannot write ${value} to ${file} (${(err as Error).message}). ${PRECONDITION}`, {
        cause: err,
      });
    }
  };
  const procsOf = (dir: string) =>
    existsSync(join(dir, 'cgroup.procs'))
      ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)
      : [];
  const remove = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const pid of procsOf(dir)) {
      try {
        writeFileSync(join(home, 'cgroup.procs'), pid);
      } catch {
        // the process exited in between
      }
    }
    // The kernel removes an exiting task from its cgroup a moment after the exit is reported.
    const until = Date.now() + 2000;
    for (;;) {
      try {
        rmdirSync(dir);
        return;
      } catch (err) {
        if (Date.now() > until)
          throw new Error(`cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  };
  const removeAll = () => {
    if (!existsSync(parent)) return;
    for (const e of readdirSync(parent, { withFileTypes: true }))
      if (e.isDirectory()) remove(join(parent, e.name));
    remove(parent);
  };

  removeAll();
  try {
    mkdirSync(parent);
  } catch (err) {
    throw new Error(`cannot create cgroup ${parent} (${(err as Error).message}). ${PRECONDITION}`, {
      cause: err,
    });
  }
  if (version === 2) {
    // The cpu controller must be enabled for the children of every level down to the process's cgroup.
    write(join(mount, 'cgroup.subtree_control'), '+cpu');
    write(join(parent, 'cgroup.subtree_control'), '+cpu');
  }

  return {
    version,
    apply(name, pid, r) {
      validateResources(r);
      const dir = join(parent, name);
      if (!existsSync(dir)) mkdirSync(dir);
      const quota = String(Math.round(r.limitCores * PERIOD_US));
      if (version === 1) {
        write(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
        write(join(dir, 'cpu.cfs_quota_us'), quota);
      } else write(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
      write(join(dir, 'cgroup.procs'), String(pid));
    },
    release: (name) => remove(join(parent, name)),
    removeAll,
  };
}

/** Removes `<cpu hierarchy>/<parentName>` if a run that did not stop cleanly (killed, Ctrl+C) left it behind. */
export function removeStaleCgroups(parentName: string): void {
  let mounts: CgroupMount[];
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return;
  }
  const cpu = mounts.filter((m) => (m.version === 1 && m.controllers.includes('cpu')) || m.version === 2);
  if (cpu.some((m) => existsSync(join(m.mountPoint, parentName)))) cpuLimiter(parentName).removeAll();
}
