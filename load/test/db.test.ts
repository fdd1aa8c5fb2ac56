// npm run db -- backup|check|restore against the real PostgreSQL of `npm test`, on a scratch database of its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { testInfra } from '@shop/testkit';
import { backup, databaseUrl, InvalidBackupError, parseArgs, readBackup, restore } from '../src/db';

const admin = testInfra().adminDatabaseUrl;
const name = `dbtool_${randomUUID().slice(0, 8)}`;
const dir = mkdtempSync(join(tmpdir(), 'shop-db-test-'));
let client: pg.Client;

const rows = async () =>
  (
    await client.query<Record<string, unknown>>(
      'SELECT id, sku, attrs, tags, blob, at, amount FROM items ORDER BY id',
    )
  ).rows;

before(async () => {
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  await root.query(`CREATE DATABASE ${name}`);
  await root.end();
  client = new pg.Client({ connectionString: databaseUrl(admin, name) });
  await client.connect();
  await client.query(`
    CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO schema_migrations (version) VALUES ('001_init.sql');
    CREATE TABLE items (id serial PRIMARY KEY, sku text NOT NULL, attrs jsonb, tags text[], blob bytea,
                        at timestamptz, amount numeric(12, 2));
    CREATE TABLE lines (item_id int NOT NULL REFERENCES items(id), n int NOT NULL);
    INSERT INTO items (sku, attrs, tags, blob, at, amount) VALUES
      ('A', '{"k":[1,2]}', ARRAY['x','y"z'], '\\x00ff', '2026-01-02T03:04:05.678Z', 12.34),
      ('B', NULL, '{}', NULL, NULL, NULL);
    INSERT INTO lines VALUES (1, 3), (2, 4);`);
});
after(async () => {
  await client.end();
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  await root.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await root.end();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run db', () => {
  it('restores every row, type for type, and the sequences, after the data is lost', async () => {
    const original = await rows();
    const lines = await backup(admin, dir, [name]);
    assert.match(lines.join('\n'), /items 2, lines 2, schema_migrations 1/);
    await client.query('TRUNCATE lines, items');
    await client.query("INSERT INTO items (sku) VALUES ('after the loss')");
    await restore(admin, dir, [name]);
    assert.deepEqual(await rows(), original);
    assert.equal((await client.query<{ n: number }>('SELECT count(*)::int AS n FROM lines')).rows[0]?.n, 2);
    const next = await client.query<{ id: number }>("INSERT INTO items (sku) VALUES ('C') RETURNING id");
    assert.equal(next.rows[0]?.id, 3, 'the sequence goes on after the restored ids');
    await client.query('DELETE FROM items WHERE id = 3');
  });

  it('refuses a corrupted backup, and a target of another schema version, changing nothing', async () => {
    const file = join(dir, `${name}.json`);
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('"sku":"A"', '"sku":"Z"'));
    assert.throws(() => readBackup(dir, [name]), InvalidBackupError);
    await assert.rejects(restore(admin, dir, [name]), /checksum mismatch/);
    writeFileSync(file, good);
    await client.query("INSERT INTO schema_migrations (version) VALUES ('002_next.sql')");
    await client.query("UPDATE items SET sku = 'kept' WHERE id = 2");
    await assert.rejects(restore(admin, dir, [name]), /schema version differs/);
    assert.equal((await rows())[1]?.sku, 'kept', 'nothing restored');
  });

  it('names bad usage', () => {
    assert.throws(() => parseArgs(['backup']), /usage/);
    assert.throws(() => parseArgs(['restore', '/x', '--databases', 'nope']), /unknown database nope/);
    assert.deepEqual(parseArgs(['check', '/x', '--databases', 'orders']).databases, ['orders']);
  });
});
