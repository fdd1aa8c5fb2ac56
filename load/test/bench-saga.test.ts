// `npm run bench:saga` (src/bench-saga.ts) as the launcher runs it, small: two runs of 30 orders against the four
// services as processes on the test run's PostgreSQL and Kafka, with a lock file naming their PIDs and the
// PostgreSQL postmaster's, as the platform's lock does. And the /proc accounting (src/procstats.ts) against a child
// of known CPU use. About 60 s in all.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { testInfra } from '@shop/testkit';
import { measureProcesses } from '../src/procstats';
import type { Stack } from './stack';
import { startStack } from './stack';

const BENCH = join(__dirname, '..', 'src', 'bench-saga.js');

function run(
  args: string[],
  timeoutMs = 240_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', BENCH, ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('CPU accounting from /proc', () => {
  it('counts a process tree, children that ended included', async () => {
    // A child that has a grandchild burn 400 ms of CPU and exit, then burns 200 ms itself (CPU time, not wall
    // time: the machine may be busy), says so, and idles.
    const burn = (ms: number) => `while (process.cpuUsage().user < ${ms * 1000});`;
    const script = `
      const { spawnSync } = require('node:child_process');
      spawnSync(process.execPath, ['-e', ${JSON.stringify(burn(400))}]);
      ${burn(200)}
      console.log('done');
      setTimeout(() => {}, 30000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    const m = measureProcesses([{ name: 'child', pid: child.pid ?? 0 }], 100);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the child did not finish its work in 30 s')), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('done')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const u = m.stop();
    child.kill();
    const c = u.processes[0];
    assert.ok(c && c.cpuSeconds >= 0.6 && c.cpuSeconds < 3, `CPU seconds ${c?.cpuSeconds}`);
    assert.ok(c.rss > 10 * 1024 * 1024, `peak RSS ${c.rss}`);
    assert.ok(c.pss > 0 && c.pss <= c.rss);
  });
});

describe('npm run bench:saga prints platform vs floor, CPU per order and memory by process', () => {
  let stack: Stack | undefined;
  let dir = '';
  let lock = '';
  before(async () => {
    stack = await startStack();
    dir = await mkdtemp(join(tmpdir(), 'bench-'));
    const infra = testInfra();
    const c = new pg.Client({ connectionString: infra.adminDatabaseUrl });
    await c.connect();
    const backend = Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
    // The postmaster is the parent of every backend (read while this one is alive).
    const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
    await c.end();
    const postmaster = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    lock = join(dir, 'infra.lock');
    await writeFile(
      lock,
      JSON.stringify({
        processes: [
          { name: 'postgres', pid: postmaster },
          ...Object.values(stack.services).map((s) => ({ name: s.name, pid: s.child.pid })),
        ],
      }),
    );
  });
  after(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('two runs of 30 orders: both tables, the ratio, and the spread', async () => {
    const infra = testInfra();
    const r = await run([
      ...['--gateway', stack?.gateway ?? '', '--issuer', stack?.issuer.url ?? ''],
      ...['--brokers', infra.kafkaBrokers, '--admin-url', infra.adminDatabaseUrl, '--lock', lock],
      ...['--orders', '30', '--concurrency', '4', '--runs', '2', '--json', 'true'],
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const out = r.stdout;
    assert.equal(out.match(/^platform \(REST -> saga -> terminal\)\s+30\s+[\d.]+/gm)?.length, 2, out);
    assert.equal(out.match(/^floor \(13 PG tx \+ 6 Kafka round trips\)\s+30\s+[\d.]+/gm)?.length, 2, out);
    assert.equal(out.match(/^platform \/ floor throughput ratio: [\d.]+$/gm)?.length, 2);
    assert.match(out, /outcomes: APPROVED 30/);
    // Every measured process has a row with its CPU per order and memory; the services did work.
    for (const name of ['postgres', 'inventory', 'payments', 'orders', 'gateway']) {
      const row = new RegExp(
        `^${name}\\s+\\d+\\s+([\\d.]+)\\s+([\\d.]+)\\s+(\\S+)\\s+(\\d+)\\s+(\\d+)`,
        'm',
      ).exec(out);
      assert.ok(row, `a row for ${name}:\n${out}`);
      assert.ok(Number(row[1]) > 0, `${name} used CPU: ${row[0]}`);
      assert.ok(Number(row[4]) > 10, `${name} RSS MB: ${row[0]}`);
    }
    // The floor uses PostgreSQL too: its CPU per order is measured beside the platform's.
    assert.match(out, /^postgres\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s/m);
    assert.match(out, /^platform total\s+[\d.]+\s+[\d.]+/m);
    assert.match(
      out,
      /^whole platform: \d+ MB resident at peak \(PSS summed: every page counted once\), (within|OVER) the 1200 MB budget; RSS summed per process \d+ MB/m,
    );
    assert.match(out, /^2 runs: median \(min-max\)$/m);
    assert.match(out, /^orders\/s\s+[\d.]+ \([\d.]+-[\d.]+\)\s+[\d.]+ \([\d.]+-[\d.]+\)/m);
    assert.match(out, /^CPU ms\/order\s+[\d.]+ \(/m);
    const json = /^BENCH_RESULT (.*)$/m.exec(out)?.[1];
    assert.ok(json, 'the line --compare-telemetry reads');
    assert.ok((JSON.parse(json) as { throughput: number }).throughput > 0);
  });

  it('refuses a bad --runs', async () => {
    const r = await run(['--runs', '0', '--floor', 'false']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--runs must be a positive integer/);
  });
});
