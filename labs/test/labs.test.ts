// Every lab end to end (break -> observe -> fix -> verify -> reset) and with --no-fix (verify must fail: the grade
// measures the incident, not the script), on one platform of the labs' own shared by all of them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { check as checkConsistency } from '@shop/load/dist/src/consistency';
import pg from 'pg';
import type { LabContext, Platform } from '../src/index';
import { drive, formatRun, LABS, runLab, sagaInvariants, startOwnPlatform, waitReady } from '../src/index';
import { CLUSTER_LABS } from '../src/cluster-labs';
import { finalStatuses, orderIdOf, placeOrderSpec } from '../src/labs/common';

const ROOT = join(__dirname, '..', '..', '..');
// Ports apart from npm start, npm test's infrastructure and the CLI's lab platform (56432/56492/18080).
const PG_PORT = Number(process.env.SHOP_LAB_TEST_PG_PORT ?? 56532);
const KAFKA_PORT = Number(process.env.SHOP_LAB_TEST_KAFKA_PORT ?? 56592);
const BASE_PORT = Number(process.env.SHOP_LAB_TEST_BASE_PORT ?? 18380);

let platform: Platform | undefined;
const log = (line: string) => {
  if (process.env.LAB_TEST_VERBOSE) console.log(line);
};

before(
  async () => {
    platform = await startOwnPlatform({
      stateDir: join(ROOT, '.local', 'lab-test'),
      postgresPort: PG_PORT,
      kafkaPort: KAFKA_PORT,
      basePort: BASE_PORT,
      env: { SAGA_STEP_TIMEOUT_MS: '4000', LOG_LEVEL: 'info' },
      reset: true,
      say: log,
    });
  },
  { timeout: 240_000 },
);
after(async () => {
  await platform?.stop();
});

describe('the lab platform', () => {
  it('runs a Prometheus with the project rules, scraping every service (alert checks are graded, not skipped)', async () => {
    assert.ok(platform, 'platform started');
    const prom = platform.prometheus;
    assert.ok(prom, "a Prometheus beside the lab platform (the 'prometheus' binary is installed by .ci/run)");
    // Every service's job is up (1 s scrape; up to 30 s on a loaded machine).
    let up: number | undefined;
    for (let i = 0; i < 60 && up !== 4; i++) {
      up = await prom.query('count(up{job=~"gateway|orders|inventory|payments"} == 1)');
      if (up !== 4) await sleep(500);
    }
    assert.equal(up, 4, 'the four services scraped and up');
    const groups = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
      data: { groups: { name: string }[] };
    };
    assert.deepEqual(
      groups.data.groups.map((g) => g.name).sort(),
      ['mesh', 'messaging', 'platform', 'saga', 'slo'],
      'the rule groups of observability/prometheus/rules',
    );
  });
});

describe('npm run lab -- list', () => {
  it('prints every lab with its source, where it runs and its duration', () => {
    const r = spawnSync(process.execPath, [join(__dirname, '..', 'src', 'cli.js'), 'list'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    for (const lab of LABS) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`${lab.id} `));
      assert.ok(line, `${lab.id} listed`);
      assert.match(line, new RegExp(lab.source.ref.replace('.', '\\.')));
      assert.match(line, /local/);
      assert.match(line, /~\d+ s/);
    } // The cluster-only labs: listed, never run here (k8s/labs/run.sh).
    for (const lab of CLUSTER_LABS) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`${lab.id} `));
      assert.ok(line, `${lab.id} listed`);
      assert.match(line, new RegExp(lab.source.ref.replace('.', '\\.')));
      assert.match(line, /kind \(scripted\)/);
      assert.doesNotMatch(line, /local/);
      assert.match(line, /~\d+ s/);
    }
  });
  it('sends a cluster-only lab to k8s/labs/run.sh (exit 2)', () => {
    const cli = join(__dirname, '..', 'src', 'cli.js');
    for (const lab of CLUSTER_LABS) {
      const r = spawnSync(process.execPath, [cli, lab.id], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`k8s/labs/run\\.sh ${lab.id}`));
    }
  });
  it('refuses a single phase without --attach, and unknown labs', () => {
    const cli = join(__dirname, '..', 'src', 'cli.js');
    assert.equal(spawnSync(process.execPath, [cli, 'fault-injection', 'break']).status, 2);
    assert.equal(spawnSync(process.execPath, [cli, 'no-such-lab']).status, 2);
  });
});

for (const lab of LABS) {
  describe(`lab ${lab.id}`, () => {
    it('break, observe, fix, verify and reset all hold', { timeout: 300_000 }, async () => {
      assert.ok(platform, 'platform started');
      const run = await runLab(lab, platform, { say: log });
      const report = formatRun(run);
      console.log(report);
      assert.equal(run.ok, true, report);
      assert.deepEqual(
        run.phases.map((p) => p.phase),
        ['break', 'observe', 'fix', 'verify', 'reset'],
      );
    });
    it(
      'without the fix, verify fails (observe still holds; reset restores the platform)',
      { timeout: 300_000 },
      async () => {
        assert.ok(platform, 'platform started');
        const run = await runLab(lab, platform, { noFix: true, say: log });
        const report = formatRun(run);
        console.log(report);
        const phase = (name: string) => run.phases.find((p) => p.phase === name);
        assert.equal(phase('observe')?.ok, true, report);
        assert.equal(phase('fix'), undefined, 'fix skipped');
        assert.equal(phase('verify')?.ok, false, `verify must fail without the fix\n${report}`);
        assert.equal(phase('reset')?.ok, true, report);
        assert.match(report, /verify failed without the fix, as expected/);
      },
    );
  });
}

describe('a service killed with kill -9 during a lab', () => {
  it('is restarted by the lab platform as a Deployment would be, and no order is lost', async () => {
    const p = platform;
    assert.ok(p, 'the shared platform started');
    const pid = p.pid('payments');
    assert.ok(pid, 'payments runs');
    const ctx = { platform: p } as unknown as LabContext;
    const load = drive(p.edge, {
      durationMs: 8000,
      ratePerSecond: 3,
      maxInFlight: 20,
      next: () => placeOrderSpec(ctx, 'kill-9'),
    });
    await sleep(2000);
    process.kill(pid, 'SIGKILL');
    const samples = await load;
    const back = await waitReady(`http://127.0.0.1:${p.ports.payments.http}/readyz`, 60_000);
    assert.ok(back, 'payments ready again');
    assert.notEqual(p.pid('payments'), pid, 'a new payments process');
    const ids = samples.map(orderIdOf).filter((x): x is string => x !== undefined);
    assert.ok(ids.length >= 10, `orders accepted during the test: ${ids.length}`);
    const final = await finalStatuses(ctx, ids, 60_000);
    const pending = [...final.entries()].filter(([, s]) => s === 'PENDING');
    assert.deepEqual(pending, [], 'every accepted order reached a terminal state');
    const invariants = await sagaInvariants(p);
    assert.ok(
      invariants.every((c) => c.ok),
      JSON.stringify(invariants),
    );
  });
});

describe('the saga invariants every verify ends with', () => {
  it('report a broken stock invariant (and only once the settle time has not cleared it)', async () => {
    const p = platform;
    assert.ok(p?.adminDatabaseUrl, 'the shared platform started');
    const url = new URL(p.adminDatabaseUrl);
    url.pathname = '/inventory';
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    const args = [
      '--orders',
      `127.0.0.1:${p.ports.orders.grpc}`,
      '--inventory',
      `127.0.0.1:${p.ports.inventory.grpc}`,
      '--payments',
      `127.0.0.1:${p.ports.payments.grpc}`,
      '--settle-ms',
      '3000',
    ];
    try {
      assert.deepEqual(await checkConsistency(args), [], 'consistent before the tampering');
      // One unit of stock vanishes behind the services' backs: no order, no reservation explains it.
      await db.query("UPDATE products SET on_hand = on_hand - 1 WHERE sku = 'SKU-0001'");
      const t0 = Date.now();
      const violations = await checkConsistency(args);
      assert.ok(Date.now() - t0 >= 3000, 'a violation is read again until the settle time is over');
      assert.equal(violations.length, 1, JSON.stringify(violations));
      assert.match(
        violations[0] ?? '',
        /^stock of SKU-0001: on hand \d+ \+ reserved 0 \+ committed \d+ != seeded \d+$/,
      );
    } finally {
      await db.query("UPDATE products SET on_hand = on_hand + 1 WHERE sku = 'SKU-0001'");
      await db.end();
    }
  });
});
