// Incident scenario 6, data loss in a Kubernetes upgrade: nodes drained, pods rescheduled, and a PersistentVolume
// with reclaim policy Delete went with its node: the database came back empty. Local analogue: the orders database is
// dropped and created again, and orders restarts on it (its migrations make an empty schema). Fix: the product's
// backup/restore command (`npm run db -- restore`, docs/runbooks/DatabaseBackup.md) from the pre-upgrade backup.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { drive, request } from '../measure';
import { countBy, finalStatuses, operator, orderIdOf, placeOrderSpec } from './common';

const ID = 'upgrade-data-loss';
const DB_TOOL = join(__dirname, '..', '..', '..', '..', 'load', 'dist', 'src', 'db.js');

/** The operator command, as `npm run db -- <args>` runs it. */
function db(ctx: LabContext, args: string[]): string {
  const url = ctx.platform.adminDatabaseUrl;
  if (!url) throw new Error('this lab needs its own platform (the PostgreSQL superuser URL)');
  ctx.say(`$ npm run db -- ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [DB_TOOL, ...args], {
    env: { PATH: process.env.PATH, SHOP_ADMIN_DATABASE_URL: url },
    encoding: 'utf8',
    timeout: 60_000,
  });
  for (const line of `${r.stdout}${r.stderr}`.trim().split('\n')) if (line) ctx.say(`  ${line}`);
  if (r.status !== 0) throw new Error(`npm run db -- ${args[0]} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function lookUp(ctx: LabContext, placed: Map<string, string>) {
  let found = 0;
  let same = 0;
  const statuses: Record<string, number> = {};
  for (const [id, status] of placed) {
    const r = await request(ctx.platform.edge, {
      method: 'GET',
      path: `/v1/orders/${id}`,
      auth: operator(ctx),
    });
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.status !== 200) continue;
    found++;
    const body = r.body as { status?: string; rejectionReason?: string | null };
    const now = body.rejectionReason ? `${body.status}/${body.rejectionReason}` : body.status;
    if (now === status) same++;
  }
  return { found, same, statuses };
}

const placedOf = (ctx: LabContext) =>
  (ctx.state.placed as Map<string, string> | undefined) ?? new Map<string, string>();

export const upgradeDataLoss: Lab = {
  id: ID,
  title: 'An upgrade loses the orders database volume; the pre-upgrade backup is restored',
  source: {
    document: 'seed',
    ref: 'scenario 6',
    title: 'Data loss during a Kubernetes upgrade',
  },
  runsOn: ['local'],
  durationS: 15,
  restarts: true,
  async break(ctx) {
    // Business before the upgrade: orders placed and settled.
    const samples = await drive(ctx.platform.edge, {
      durationMs: 3000,
      ratePerSecond: 4,
      maxInFlight: 10,
      next: () => placeOrderSpec(ctx, ID),
    });
    const ids = samples.map(orderIdOf).filter((x): x is string => x !== undefined);
    const placed = await finalStatuses(ctx, ids, 15_000);
    ctx.state.placed = placed;
    ctx.say(`${placed.size} orders placed before the upgrade: ${JSON.stringify(countBy(placed.values()))}`);
    // The runbook's pre-upgrade step, the one the incident skipped: a backup of every database.
    const dir = mkdtempSync(join(tmpdir(), 'shop-lab-backup-'));
    ctx.state.backupDir = dir;
    db(ctx, ['backup', dir]);
    // The upgrade: the node is drained, the orders pod is rescheduled, and its volume (reclaim policy Delete) is
    // gone: the database is created again, empty, and orders starts on it and migrates.
    const client = new pg.Client({ connectionString: ctx.platform.adminDatabaseUrl });
    await client.connect();
    try {
      ctx.say(
        'the orders volume is deleted with its node: DROP DATABASE orders; CREATE DATABASE orders (empty)',
      );
      await client.query('DROP DATABASE orders WITH (FORCE)');
      await client.query("CREATE DATABASE orders OWNER orders ENCODING 'UTF8' TEMPLATE template0");
    } finally {
      await client.end();
    }
    await ctx.platform.restart('orders', {});
    ctx.state.restoreNeeded = true;
  },
  async observe(ctx): Promise<Check[]> {
    const placed = placedOf(ctx);
    const m = await lookUp(ctx, placed);
    ctx.say(`GET /v1/orders/:id of the orders placed before: ${JSON.stringify(m.statuses)}`);
    return [
      check(
        'orders placed before the upgrade found at the edge (GET /v1/orders/:id)',
        '<= 10% (the data is gone)',
        `${m.found}/${placed.size} ${JSON.stringify(m.statuses)}`,
        placed.size > 0 && m.found / placed.size <= 0.1,
      ),
    ];
  },
  async fix(ctx) {
    // The runbook: validate the backup, restore the lost database (the others were not lost), start orders again.
    const dir = ctx.state.backupDir as string;
    db(ctx, ['check', dir, '--databases', 'orders']);
    db(ctx, ['restore', dir, '--databases', 'orders']);
    ctx.state.restoreNeeded = false;
    await ctx.platform.restart('orders', {});
  },
  async verify(ctx): Promise<Check[]> {
    const placed = placedOf(ctx);
    const m = await lookUp(ctx, placed);
    // New business after the restore: ids, sequences and the saga work on the restored data. Only on restored data:
    // an order written into the empty database would be lost again when reset puts the backup back.
    const fresh =
      m.same === placed.size
        ? await request(ctx.platform.edge, placeOrderSpec(ctx, ID))
        : { status: 0, body: undefined, ms: 0 };
    const freshId = orderIdOf(fresh);
    const final = freshId ? await finalStatuses(ctx, [freshId], 10_000) : new Map<string, string>();
    return [
      check(
        'orders placed before the upgrade found at the edge, same status',
        '100%',
        `${m.same}/${placed.size} (${m.found} found) ${JSON.stringify(m.statuses)}`,
        placed.size > 0 && m.same === placed.size,
      ),
      check(
        'an order placed after the restore',
        '201, then APPROVED',
        fresh.status === 0
          ? 'not tried (the data is missing)'
          : `${fresh.status}, ${freshId ? final.get(freshId) : 'no id'}`,
        fresh.status === 201 && freshId !== undefined && final.get(freshId) === 'APPROVED',
      ),
    ];
  },
  async reset(ctx) {
    // Back to the baseline whatever happened: without the fix the orders database is still empty while inventory
    // and payments remember its orders, so the backup goes back in (the lab's own cleanup, not graded).
    const dir = ctx.state.backupDir as string | undefined;
    if (dir && ctx.state.restoreNeeded) {
      db(ctx, ['restore', dir, '--databases', 'orders']);
      await ctx.platform.restart('orders', {});
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    delete ctx.state.backupDir;
  },
};
