import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/** A fresh state dir the `postgres` user may enter (PostgreSQL refuses to run as root). */
const created: string[] = [];

export function tempStateDir(label: string): string {
  const base = mkdtempSync(join(tmpdir(), `shop-infra-${label}-`));
  chmodSync(base, 0o755);
  created.push(base);
  return join(base, 'state');
}

/** Removes the temporary state dirs of this test file (call after everything using them has stopped). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function query(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** Replaces the database of a URL (to try one role against another service's database). */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export const CLI = join(__dirname, '..', 'src', 'cli.js');
