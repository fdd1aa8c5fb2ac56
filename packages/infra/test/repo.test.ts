// The repository's install path: the committed lock file is complete enough for `npm ci`, and the bootstrap that runs
// before `npm start` / `npm test` installs with `npm ci` and leaves package-lock.json untouched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const repoRoot = join(__dirname, '..', '..', '..', '..');

function trackedManifests(): string[] {
  const r = spawnSync('git', ['ls-files', '--', 'package.json', 'package-lock.json', '*/package.json'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim().split('\n');
  // Not a git checkout (an exported tree): the workspaces are listed in the root package.json.
  const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] };
  const dirs = root.workspaces.flatMap((w) =>
    w.endsWith('/*')
      ? spawnSync('ls', [w.slice(0, -2)], { cwd: repoRoot, encoding: 'utf8' })
          .stdout.trim()
          .split('\n')
          .map((d) => `${w.slice(0, -2)}/${d}`)
      : [w],
  );
  return ['package.json', 'package-lock.json', ...dirs.map((d) => `${d}/package.json`)].filter((f) =>
    existsSync(join(repoRoot, f)),
  );
}

void describe('install path', () => {
  void it('npm ci accepts the committed package-lock.json (every platform entry present, in step with package.json)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-lock-'));
    try {
      for (const f of trackedManifests()) {
        mkdirSync(join(dir, dirname(f)), { recursive: true });
        copyFileSync(join(repoRoot, f), join(dir, f));
      }
      // --dry-run --offline: npm validates the lock file against every package.json without downloading anything.
      const r = spawnSync(
        'npm',
        ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
        {
          cwd: dir,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Missing: .* from lock file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('the bootstrap installs with npm ci and does not rewrite package-lock.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-bootstrap-'));
    try {
      mkdirSync(join(dir, 'scripts'));
      copyFileSync(join(repoRoot, 'scripts', 'bootstrap.cjs'), join(dir, 'scripts', 'bootstrap.cjs'));
      const lock = '{"name":"x","lockfileVersion":3,"packages":{}}\n';
      writeFileSync(join(dir, 'package-lock.json'), lock);
      // A recording npm: writes its arguments, and what a successful install leaves behind.
      const stub = join(dir, 'npm-stub.cjs');
      writeFileSync(
        stub,
        `const fs = require('node:fs'); const p = require('node:path');
fs.writeFileSync(p.join(process.cwd(), 'npm-args.json'), JSON.stringify(process.argv.slice(2)));
fs.mkdirSync('node_modules/.bin', { recursive: true });
fs.writeFileSync('node_modules/.package-lock.json', '{}');
fs.symlinkSync(process.execPath, 'node_modules/.bin/node');\n`,
      );
      const r = spawnSync(process.execPath, [join(dir, 'scripts', 'bootstrap.cjs')], {
        cwd: dir,
        env: { ...process.env, npm_execpath: stub },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const npmArgs = JSON.parse(readFileSync(join(dir, 'npm-args.json'), 'utf8')) as string[];
      assert.equal(npmArgs[0], 'ci', `bootstrap ran npm ${npmArgs.join(' ')}`);
      assert.equal(readFileSync(join(dir, 'package-lock.json'), 'utf8'), lock);
      assert.match(r.stdout, /installing dependencies \(npm ci/);

      // Installed and up to date: nothing runs.
      rmSync(join(dir, 'npm-args.json'));
      const again = spawnSync(process.execPath, [join(dir, 'scripts', 'bootstrap.cjs')], {
        cwd: dir,
        env: { ...process.env, npm_execpath: stub },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(again.status, 0, again.stderr);
      assert.equal(existsSync(join(dir, 'npm-args.json')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
