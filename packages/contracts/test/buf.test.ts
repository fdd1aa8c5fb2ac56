import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buf, describe, repoRoot, run } from './buf-support';

void test('buf lint passes on proto/', () => {
  const result = buf(['lint', 'proto'], repoRoot);
  assert.equal(result.status, 0, describe('buf lint proto', result));
});

void test('buf breaking finds no breaking change against the main branch', () => {
  // A fresh clone has a local `main`; a CI checkout of a pull request may only have `origin/main`.
  const ref = ['main', 'origin/main'].find(
    (candidate) =>
      run('git', ['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], repoRoot).status === 0,
  );
  assert.ok(
    ref !== undefined,
    'neither main nor origin/main exists in this clone: fetch main to compare against it',
  );
  const gitDir = run('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], repoRoot);
  assert.equal(gitDir.status, 0, describe('git rev-parse --git-common-dir', gitDir));
  const against = `${gitDir.output.trim()}#ref=${ref},subdir=proto`;
  const result = buf(['breaking', 'proto', '--against', against], repoRoot);
  assert.equal(result.status, 0, describe(`buf breaking proto --against ${against}`, result));
});
