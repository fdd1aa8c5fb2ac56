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
  readdirSync,
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

interface Manifest {
  name?: string;
  license?: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readManifest = (file: string): Manifest => JSON.parse(readFileSync(file, 'utf8')) as Manifest;
const lowest = (range: string): number[] =>
  (/(\d+)\.(\d+)(?:\.(\d+))?/.exec(range) ?? []).slice(1, 4).map((n) => Number(n ?? 0));
const atLeast = (a: number[], b: number[]): boolean => {
  for (let i = 0; i < 3; i += 1) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

void describe('dependency ranges', () => {
  const workspaces = trackedManifests()
    .filter((f) => f.endsWith('package.json') && !f.endsWith('package-lock.json'))
    .map((f) => ({ file: f, m: readManifest(join(repoRoot, f)) }));
  const sdk = readManifest(join(repoRoot, 'node_modules', '@opentelemetry', 'sdk-node', 'package.json'));

  void it("every @opentelemetry/api range lies inside the SDK's peer range (>=1.10 <1.11)", () => {
    const peer = sdk.peerDependencies?.['@opentelemetry/api'] ?? '';
    const [, lo = '', hi = ''] = /^>=(\S+) <(\S+)$/.exec(peer) ?? [];
    assert.ok(lo && hi, `unexpected SDK peer range ${peer}`);
    for (const { file, m } of workspaces) {
      const range = m.dependencies?.['@opentelemetry/api'] ?? m.devDependencies?.['@opentelemetry/api'];
      if (!range) continue;
      assert.ok(atLeast(lowest(range), lowest(lo)), `${file}: @opentelemetry/api ${range} allows < ${lo}`);
      // Inside <hi: a tilde range or an exact version on the same minor (a caret range would allow 1.11+).
      assert.match(range, /^(~|)\d+\.\d+\.\d+$/, `${file}: @opentelemetry/api ${range} may go past ${hi}`);
      assert.ok(!atLeast(lowest(range), lowest(hi)), `${file}: @opentelemetry/api ${range} >= ${hi}`);
    }
  });

  void it("the root engines.node is at least every installed @opentelemetry package's", () => {
    const root = readManifest(join(repoRoot, 'package.json'));
    const declared = lowest(root.engines?.node ?? '0');
    const dir = join(repoRoot, 'node_modules', '@opentelemetry');
    for (const pkg of readdirSync(dir)) {
      const m = readManifest(join(dir, pkg, 'package.json'));
      if (!m.engines?.node) continue;
      assert.ok(
        atLeast(declared, lowest(m.engines.node)),
        `engines.node ${root.engines?.node} < ${m.name} ${m.engines.node}`,
      );
    }
  });

  void it('a LICENSE file with the Apache-2.0 text the packages declare', () => {
    const text = readFileSync(join(repoRoot, 'LICENSE'), 'utf8');
    assert.match(text, /^\s*Apache License\s+Version 2\.0, January 2004/);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
    for (const { file, m } of workspaces) assert.equal(m.license ?? 'Apache-2.0', 'Apache-2.0', file);
  });
});
