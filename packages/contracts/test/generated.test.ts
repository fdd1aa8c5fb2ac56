import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { buf, describe, packageDir, run } from './buf-support';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const scratch = mkdtempSync(join(tmpdir(), 'contracts-gen-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

void test('committed src/gen is what `npm run generate` produces from proto/', () => {
  const result = buf(['generate', '-o', scratch]);
  assert.equal(result.status, 0, describe('buf generate', result));
  const descriptors = run(process.execPath, [
    join(packageDir, 'scripts', 'descriptor-set.mjs'),
    join(scratch, 'src', 'gen', 'descriptor-set.ts'),
  ]);
  assert.equal(descriptors.status, 0, describe('scripts/descriptor-set.mjs', descriptors));

  const committedDir = join(packageDir, 'src', 'gen');
  const freshDir = join(scratch, 'src', 'gen');
  const committed = listFiles(committedDir);
  const fresh = listFiles(freshDir);
  assert.ok(fresh.length > 0, 'buf generate produced no files');
  const stale = 'src/gen is stale: run `npm run generate -w @shop/contracts` and commit the result';
  assert.deepEqual(committed, fresh, `${stale} (file list differs)`);
  const differing = fresh.filter(
    (file) => readFileSync(join(committedDir, file), 'utf8') !== readFileSync(join(freshDir, file), 'utf8'),
  );
  assert.deepEqual(differing, [], `${stale} (content differs)`);
});
