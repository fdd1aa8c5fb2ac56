// The lab platform's CPU limits on a real cgroup, and the bad inputs of the limits and of the autoscaler.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import type { readCpuCgroup } from '@shop/platform/cgroup';
import type { AutoscalerOptions, Platform } from '../src/index';
import { cpuLimiter, validateAutoscaler, validateResources } from '../src/index';

describe('CPU resources and autoscaler options', () => {
  it('name the field that is wrong', () => {
    assert.throws(() => validateResources({ limitCores: 0, requestCores: 0.1 }), /limitCores/);
    assert.throws(() => validateResources({ limitCores: 1, requestCores: Number.NaN }), /requestCores/);
    assert.throws(
      () => validateResources({ limitCores: 0.2, requestCores: 0.5 }),
      /requestCores .* must not exceed limitCores/,
    );
    const ok: AutoscalerOptions = {
      platform: {} as Platform,
      service: 'gateway',
      minReplicas: 2,
      maxReplicas: 3,
      targetUtilization: 0.6,
      resources: { limitCores: 1, requestCores: 0.5 },
      intervalMs: 2000,
    };
    assert.doesNotThrow(() => validateAutoscaler(ok));
    assert.throws(() => validateAutoscaler({ ...ok, minReplicas: 0 }), /minReplicas/);
    assert.throws(() => validateAutoscaler({ ...ok, maxReplicas: 1 }), /maxReplicas/);
    assert.throws(() => validateAutoscaler({ ...ok, targetUtilization: 60 }), /targetUtilization/);
    assert.throws(() => validateAutoscaler({ ...ok, intervalMs: 10 }), /intervalMs/);
  });
});

describe('cpuLimiter (needs root and a cgroup cpu controller, as the lab does)', () => {
  it('puts a process under a quota and removes its cgroup afterwards', { timeout: 30_000 }, async () => {
    const name = `shop-lab-test-${process.pid}`;
    const limiter = cpuLimiter(name);
    let parentDir: string | undefined;
    // A child that reports its own cgroup, as the services' metrics read it.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `process.stdin.once('data', () => { process.stdout.write(JSON.stringify(require('@shop/platform/cgroup').readCpuCgroup())); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(__dirname, '..', '..') },
    );
    try {
      assert.ok(child.pid);
      limiter.apply('svc-0', child.pid, { limitCores: 0.25, requestCores: 0.1 });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const closed = new Promise((r) => child.once('close', r));
      child.stdin.write('go\n');
      await closed;
      const seen = JSON.parse(out) as NonNullable<ReturnType<typeof readCpuCgroup>>;
      assert.equal(seen.limitCores, 0.25);
      assert.match(seen.dir, new RegExp(`/${name}/svc-0$`));
      parentDir = dirname(seen.dir);
      const quota =
        limiter.version === 1
          ? readFileSync(join(seen.dir, 'cpu.cfs_quota_us'), 'utf8').trim()
          : readFileSync(join(seen.dir, 'cpu.max'), 'utf8').trim();
      assert.equal(quota, limiter.version === 1 ? '25000' : '25000 100000');
      limiter.release('svc-0');
      assert.equal(existsSync(seen.dir), false, 'the cgroup is removed');
    } finally {
      child.kill('SIGKILL');
      limiter.removeAll();
    }
    assert.ok(parentDir !== undefined && !existsSync(parentDir), `the parent ${parentDir ?? '?'} is removed`);
  });
});
