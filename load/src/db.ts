// `npm run db -- backup <dir> | restore <dir> | check <dir>`: logical backup and restore of the services' databases
// (docs/runbooks/DatabaseBackup.md). Every table of the public schema, rows as JSON, with a manifest of row counts
// and SHA-256 checksums; restore validates the files and the target's schema version first, then replaces each
// database's rows in one transaction. The embedded PostgreSQL (18) is newer than the pg_dump found on most hosts,
// and pg_dump refuses newer servers: this command only needs the driver. It holds each table in memory: it is meant
// for the shop's databases and for drills, not for a production-sized one (use pg_dump/pg_basebackup there).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';

export const DATABASES = ['orders', 'inventory', 'payments'] as const;

export const USAGE = `usage: npm run db -- <command> [--databases orders,inventory,payments]

  backup <dir>     write <dir>/<database>.json for each database and <dir>/manifest.json (counts, SHA-256)
  check <dir>      validate a backup: manifest present, checksums and row counts match
  restore <dir>    validate the backup and each target's schema version (schema_migrations), then replace every
                   table's rows in one transaction per database; sequences set; counts checked before commit

Stop (or scale to 0) the services of a database before restoring it. The server: SHOP_ADMIN_DATABASE_URL (a
superuser; set by npm run for the local platform). Exit codes: 0 done, 1 failure, 2 bad usage, 3 invalid backup
or schema mismatch (nothing changed).`;

export class UsageError extends Error {
  readonly exitCode = 2;
}
export class InvalidBackupError extends Error {
  readonly exitCode = 3;
}

export interface DatabaseDump {
  database: string;
  takenAt: string;
  serverVersion: string;
  migrations: string[];
  tables: Record<string, unknown[]>;
  sequences: Record<string, number | null>;
}

export interface Manifest {
  format: 'shop-db-backup/1';
  takenAt: string;
  databases: Record<string, { file: string; sha256: string; rows: Record<string, number> }>;
}

export function parseArgs(argv: string[]): {
  command: 'backup' | 'check' | 'restore';
  dir: string;
  databases: string[];
} {
  const rest = [...argv];
  let databases: string[] = [...DATABASES];
  const i = rest.indexOf('--databases');
  if (i >= 0) {
    const list = rest[i + 1];
    if (!list) throw new UsageError(`--databases needs a list\n\n${USAGE}`);
    databases = list.split(',').map((d) => d.trim());
    const bad = databases.filter((d) => !(DATABASES as readonly string[]).includes(d));
    if (bad.length)
      throw new UsageError(`unknown database ${bad.join(', ')}; one of ${DATABASES.join(', ')}`);
    rest.splice(i, 2);
  }
  const [command, dir, ...extra] = rest;
  if ((command === 'backup' || command === 'check' || command === 'restore') && dir && extra.length === 0)
    return { command, dir: resolve(dir), databases };
  throw new UsageError(
    command === undefined || command === '--help'
      ? USAGE
      : `unknown arguments: ${argv.join(' ')}\n\n${USAGE}`,
  );
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const tablesOf = async (c: pg.ClientBase) =>
  (
    await c.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
  ).rows.map((r) => r.tablename);

const migrationsOf = async (c: pg.ClientBase) =>
  (await c.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map(
    (r) => r.version,
  );

/** One database, read in a REPEATABLE READ transaction (a consistent snapshot of it). */
export async function dumpDatabase(c: pg.ClientBase, database: string): Promise<DatabaseDump> {
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const tables: Record<string, unknown[]> = {};
    for (const t of await tablesOf(c)) {
      const { rows } = await c.query<{ rows: unknown[] }>(
        `SELECT coalesce(json_agg(t), '[]'::json) AS rows FROM ${quote(t)} t`,
      );
      tables[t] = rows[0]?.rows ?? [];
    }
    const seqs = await c.query<{ name: string; last_value: string | null }>(
      "SELECT sequencename AS name, last_value FROM pg_sequences WHERE schemaname = 'public'",
    );
    const version = await c.query<{ server_version: string }>('SHOW server_version');
    const dump: DatabaseDump = {
      database,
      takenAt: new Date().toISOString(),
      serverVersion: version.rows[0]?.server_version ?? 'unknown',
      migrations: await migrationsOf(c),
      tables,
      sequences: Object.fromEntries(
        seqs.rows.map((s) => [s.name, s.last_value === null ? null : Number(s.last_value)]),
      ),
    };
    await c.query('COMMIT');
    return dump;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export async function backup(adminUrl: string, dir: string, databases: string[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const manifest: Manifest = { format: 'shop-db-backup/1', takenAt: new Date().toISOString(), databases: {} };
  const lines: string[] = [];
  for (const db of databases) {
    const dump = await withClient(databaseUrl(adminUrl, db), (c) => dumpDatabase(c, db));
    const text = JSON.stringify(dump);
    const file = `${db}.json`;
    writeFileSync(join(dir, file), text);
    const rows = Object.fromEntries(Object.entries(dump.tables).map(([t, r]) => [t, r.length]));
    manifest.databases[db] = { file, sha256: sha256(text), rows };
    lines.push(
      `${db}: ${Object.entries(rows)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')}`,
    );
  }
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  lines.push(`backup written to ${dir}`);
  return lines;
}

/** Reads and validates a backup: manifest, checksums, row counts. Throws InvalidBackupError. */
export function readBackup(dir: string, databases: string[]): { manifest: Manifest; dumps: DatabaseDump[] } {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new InvalidBackupError(`no backup in ${dir} (no manifest.json)`);
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  if (manifest.format !== 'shop-db-backup/1') throw new InvalidBackupError(`${path}: unknown format`);
  const dumps: DatabaseDump[] = [];
  for (const db of databases) {
    const entry = manifest.databases[db];
    if (!entry) throw new InvalidBackupError(`the backup in ${dir} has no database ${db}`);
    const file = join(dir, entry.file);
    if (!existsSync(file)) throw new InvalidBackupError(`${file} is missing`);
    const text = readFileSync(file, 'utf8');
    if (sha256(text) !== entry.sha256) throw new InvalidBackupError(`${file}: checksum mismatch (corrupted)`);
    const dump = JSON.parse(text) as DatabaseDump;
    for (const [t, n] of Object.entries(entry.rows))
      if ((dump.tables[t]?.length ?? -1) !== n)
        throw new InvalidBackupError(
          `${file}: table ${t} has ${dump.tables[t]?.length ?? 0} rows, manifest ${n}`,
        );
    dumps.push(dump);
  }
  return { manifest, dumps };
}

/** Replaces every table's rows of one database in one transaction; nothing changes on any error. */
export async function restoreDatabase(c: pg.ClientBase, dump: DatabaseDump): Promise<string> {
  const target = await migrationsOf(c).catch(() => undefined);
  if (!target)
    throw new InvalidBackupError(
      `${dump.database}: no schema_migrations (start the service once to migrate it)`,
    );
  if (target.join(',') !== dump.migrations.join(','))
    throw new InvalidBackupError(
      `${dump.database}: schema version differs (backup ${dump.migrations.at(-1) ?? 'none'}, target ${target.at(-1) ?? 'none'})`,
    );
  const tables = await tablesOf(c);
  const missing = Object.keys(dump.tables).filter((t) => !tables.includes(t));
  if (missing.length) throw new InvalidBackupError(`${dump.database}: tables missing: ${missing.join(', ')}`);
  await c.query('BEGIN');
  try {
    // Foreign keys and triggers are not re-checked row by row: the rows come from one consistent snapshot.
    await c.query('SET LOCAL session_replication_role = replica');
    const names = Object.keys(dump.tables);
    await c.query(`TRUNCATE ${names.map(quote).join(', ')}`);
    for (const [t, rows] of Object.entries(dump.tables)) {
      if (rows.length === 0) continue;
      await c.query(
        `INSERT INTO ${quote(t)} SELECT * FROM json_populate_recordset(NULL::${quote(t)}, $1::json)`,
        [JSON.stringify(rows)],
      );
    }
    for (const [s, v] of Object.entries(dump.sequences)) {
      if (v === null) await c.query('SELECT setval($1::regclass, 1, false)', [quote(s)]);
      else await c.query('SELECT setval($1::regclass, $2)', [quote(s), v]);
    }
    for (const [t, rows] of Object.entries(dump.tables)) {
      const n = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quote(t)}`);
      if (Number(n.rows[0]?.n) !== rows.length)
        throw new Error(`${dump.database}.${t}: ${n.rows[0]?.n} rows after restore, backup ${rows.length}`);
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  const total = Object.values(dump.tables).reduce((a, r) => a + r.length, 0);
  return `${dump.database}: restored ${total} rows in ${Object.keys(dump.tables).length} tables (backup of ${dump.takenAt})`;
}

export async function restore(adminUrl: string, dir: string, databases: string[]): Promise<string[]> {
  const { dumps } = readBackup(dir, databases);
  const lines: string[] = [];
  for (const dump of dumps)
    lines.push(await withClient(databaseUrl(adminUrl, dump.database), (c) => restoreDatabase(c, dump)));
  return lines;
}

export async function runDb(argv: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const args = parseArgs(argv);
  if (args.command === 'check') {
    const { manifest } = readBackup(args.dir, args.databases);
    return [
      `backup of ${manifest.takenAt} is valid:`,
      ...args.databases.map(
        (d) =>
          `  ${d}: ${Object.entries(manifest.databases[d]?.rows ?? {})
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')}`,
      ),
    ];
  }
  const adminUrl = env.SHOP_ADMIN_DATABASE_URL;
  if (!adminUrl)
    throw new UsageError('set SHOP_ADMIN_DATABASE_URL (a superuser URL of the PostgreSQL server)');
  return args.command === 'backup'
    ? backup(adminUrl, args.dir, args.databases)
    : restore(adminUrl, args.dir, args.databases);
}

async function main(): Promise<number> {
  try {
    for (const line of await runDb(process.argv.slice(2), process.env)) console.log(line);
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return (err as { exitCode?: number }).exitCode ?? 1;
  }
}

if (require.main === module) void main().then((code) => process.exit(code));
