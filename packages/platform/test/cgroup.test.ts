// The cgroup CPU metrics: the parsers on this machine's own /proc and /sys files, then a live cgroup with a CFS
// quota around a child process that exports the metrics the way a service does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import {
  limitFromV1,
  limitFromV2,
  parseCpuStat,
  parseMountinfo,
  parseProcCgroup,
  readCpuCgroup,
} from '../src/cgroup';

const PRECONDITION =
  'needs a writable cgroup cpu controller, as root: cgroup v1 with the cpu hierarchy mounted (/sys/fs/cgroup/cpu) or cgroup v2 with "cpu" in /sys/fs/cgroup/cgroup.subtree_control';

/** Where this machine's cpu controller is, from the same files the product reads. */
function cpuHierarchy(): { version: 1 | 2; mountPoint: string } {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  if (v1) return { version: 1, mountPoint: v1.mountPoint };
  const v2 = mounts.find((m) => m.version === 2);
  if (v2 && readFileSync(join(v2.mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu'))
    return { version: 2, mountPoint: v2.mountPoint };
  throw new Error(`no cpu controller in /proc/self/mountinfo: ${PRECONDITION}`);
}

describe('cgroup CPU parsers on this machine', () => {
  it('find the cpu controller of /proc/self/cgroup in /proc/self/mountinfo and read its cpu.stat', () => {
    const lines = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
    assert.ok(lines.length > 0, 'a line per hierarchy');
    const h = cpuHierarchy();
    if (h.version === 1) assert.ok(lines.some((l) => l.controllers.includes('cpu')));
    else assert.ok(lines.some((l) => l.hierarchy === '0'));
    const cg = readCpuCgroup();
    assert.ok(cg, `readCpuCgroup() read nothing on a machine with the cpu controller at ${h.mountPoint}`);
    assert.equal(cg.version, h.version);
    assert.ok(cg.dir.startsWith(h.mountPoint), cg.dir);
    const raw = parseCpuStat(readFileSync(join(cg.dir, 'cpu.stat'), 'utf8'));
    assert.ok(raw && raw.periods >= 0 && raw.throttledPeriods <= raw.periods, JSON.stringify(raw));
  });

  it('read both formats of cpu.stat and of the limit', () => {
    assert.deepEqual(parseCpuStat('nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n'), {
      periods: 10,
      throttledPeriods: 4,
      throttledSeconds: 2.5,
    });
    assert.deepEqual(
      parseCpuStat(
        'usage_usec 9\nuser_usec 5\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 1500\n',
      ),
      { periods: 3, throttledPeriods: 1, throttledSeconds: 0.0015 },
    );
    // v2 without the cpu controller in the parent's subtree_control: usage only
    assert.equal(parseCpuStat('usage_usec 9\nuser_usec 5\nsystem_usec 4\n'), undefined);
    assert.equal(limitFromV1('20000\n', '100000\n'), 0.2);
    assert.equal(limitFromV1('-1\n', '100000\n'), undefined);
    assert.equal(limitFromV2('150000 100000\n'), 1.5);
    assert.equal(limitFromV2('max 100000\n'), undefined);
  });

  it('map a hierarchy path below the mount root (a container without a cgroup namespace)', () => {
    const mounts = parseMountinfo(
      '30 25 0:27 /docker/abc /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n' +
        '31 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n',
    );
    assert.deepEqual(
      mounts.map((m) => [m.version, m.root, m.mountPoint, m.controllers.includes('cpu')]),
      [
        [1, '/docker/abc', '/sys/fs/cgroup/cpu', true],
        [2, '/', '/sys/fs/cgroup/unified', false],
      ],
    );
  });
});

/** A child process exporting createMetrics() as a service does; prints its /metrics text on each input line. */
const CHILD = `
const { createMetrics, burnCpu } = require(${JSON.stringify(join(__dirname, '..', 'src', 'index.js'))});
const m = createMetrics('cgroup-test');
require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line.startsWith('burn ')) burnCpu(Number(line.slice(5)));
  process.stdout.write(JSON.stringify(await m.registry.metrics()) + '\\n');
});`;

const value = (text: string, name: string) => {
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
};

describe('cgroup CPU metrics from a live cgroup', () => {
  it('export the quota and count the periods it throttled a process', { timeout: 60_000 }, async () => {
    let h: { version: 1 | 2; mountPoint: string };
    const dir = (m: string) => join(m, `shop-platform-test-${process.pid}`);
    try {
      h = cpuHierarchy();
      mkdirSync(dir(h.mountPoint));
    } catch (err) {
      assert.fail(`cannot create a cgroup (${(err as Error).message}): ${PRECONDITION}`);
    }
    const cg = dir(h.mountPoint);
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ask = async (line: string) => {
      child.stdin.write(`${line}\n`);
      const r = await replies.next();
      assert.ok(!r.done, 'the child answered');
      return JSON.parse(r.value) as string;
    };
    const limit = (cores: number | undefined) =>
      h.version === 1
        ? writeFileSync(join(cg, 'cpu.cfs_quota_us'), cores === undefined ? '-1' : String(cores * 100_000))
        : writeFileSync(join(cg, 'cpu.max'), `${cores === undefined ? 'max' : cores * 100_000} 100000`);
    try {
      assert.ok(child.pid);
      writeFileSync(join(cg, 'cgroup.procs'), String(child.pid));
      const unlimited = await ask('scrape');
      assert.equal(value(unlimited, 'process_cpu_limit_cores'), undefined, 'no limit: the series is absent');
      assert.notEqual(value(unlimited, 'process_cpu_periods_total'), undefined, unlimited);

      limit(0.2);
      // 300 ms of CPU under 20 ms per 100 ms period: at least a second and 10 periods, nearly all throttled.
      const t0 = Date.now();
      const limited = await ask('burn 300');
      const wallMs = Date.now() - t0;
      const periods = value(limited, 'process_cpu_periods_total') ?? 0;
      const throttled = value(limited, 'process_cpu_throttled_periods_total') ?? 0;
      const throttledS = value(limited, 'process_cpu_throttled_seconds_total') ?? 0;
      const detail = `wall ${wallMs} ms, periods ${periods}, throttled ${throttled}, ${throttledS} s`;
      assert.equal(value(limited, 'process_cpu_limit_cores'), 0.2, limited);
      assert.ok(wallMs >= 1000, `the quota slowed the burn down: ${detail}`);
      assert.ok(periods >= 10 && throttled >= 8 && throttled <= periods, detail);
      assert.ok(throttledS >= 0.5, detail);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
      // A cgroup can be removed once no process is left in it.
      for (let i = 0; i < 50 && existsSync(cg); i++) {
        try {
          rmdirSync(cg);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  });
});
