// helm lint --strict, shellcheck over the scripts, and the Dockerfile's default base (the image build itself is
// tested by building and starting the four images: tools/images/test).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chartDir, helm, profiles, repoRoot, valuesFile } from './support';

void describe('chart lint', () => {
  for (const [name, values] of Object.entries(profiles)) {
    void it(`helm lint --strict (${name})`, () => {
      const r = helm(['lint', '--strict', chartDir, '-f', valuesFile(values)]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

void describe('scripts', () => {
  const scripts = readdirSync(join(repoRoot, 'k8s'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => join('k8s', f));
  const labScripts = readdirSync(join(repoRoot, 'k8s', 'labs'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => join('k8s', 'labs', f));

  void it('shellcheck passes on every k8s/*.sh and k8s/labs/*.sh', () => {
    assert.ok(scripts.length >= 4, `scripts found: ${scripts.join(', ')}`);
    assert.ok(labScripts.length >= 7, `lab scripts found: ${labScripts.join(', ')}`);
    const r = spawnSync('shellcheck', ['--external-sources', '--severity=style', ...scripts, ...labScripts], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    if (r.error) {
      assert.fail('shellcheck is not installed: apt-get install -y shellcheck (Debian package `shellcheck`)');
    }
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  void it('every script stops at the first failure and names the failed command', () => {
    const lib = readFileSync(join(repoRoot, 'k8s', 'lib.sh'), 'utf8');
    assert.match(lib, /set -Eeuo pipefail/);
    assert.match(lib, /trap 'on_error "\$LINENO" "\$BASH_COMMAND"' ERR/);
    for (const s of scripts.filter((f) => !f.endsWith('lib.sh'))) {
      assert.match(
        readFileSync(join(repoRoot, s), 'utf8'),
        /^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/lib\.sh"$/m,
        s,
      );
    }
    // The labs' runner and library go through their own lib.sh, which sources k8s/lib.sh.
    const labLib = readFileSync(join(repoRoot, 'k8s', 'labs', 'lib.sh'), 'utf8');
    assert.match(labLib, /^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/\.\.\/lib\.sh"$/m);
    assert.match(
      readFileSync(join(repoRoot, 'k8s', 'labs', 'run.sh'), 'utf8'),
      /^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/lib\.sh"$/m,
    );
  });

  void it('kind-up.sh reports every missing prerequisite before doing anything', () => {
    // Run with a PATH that holds only bash and what lib.sh needs besides builtins (dirname), none of the five tools.
    const bin = mkdtempSync(join(tmpdir(), 'shop-path-'));
    for (const tool of ['bash', 'dirname']) {
      const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(found, join(bin, tool));
    }
    const r = spawnSync(join(bin, 'bash'), [join(repoRoot, 'k8s', 'kind-up.sh')], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: process.env.HOME ?? '/tmp' },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Missing prerequisites: docker kind kubectl helm istioctl/);
  });

  void it('canary.sh steps through 5, 25, 50, 100 and can roll back', () => {
    const text = readFileSync(join(repoRoot, 'k8s', 'canary.sh'), 'utf8');
    assert.match(text, /STEPS=\(5 25 50 100\)/);
    assert.match(text, /rollback\)/);
  });
});

void describe('Dockerfile', () => {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  // What the image build proves is tested by building and starting the four images (tools/images/test): npm ci from
  // the cut lockfile, the build, uid 1000, no package manager at runtime, a read-only root filesystem. What a build on
  // this machine cannot show is the default base, which is the real image (here a stand-in is passed as NODE_IMAGE).
  void it('defaults to the real node:24 bookworm-slim base, overridable by NODE_IMAGE', () => {
    assert.match(text, /^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim$/m);
    const froms = text.split('\n').filter((l) => l.startsWith('FROM '));
    for (const from of froms) assert.match(from, /^FROM (\$\{NODE_IMAGE\}|deps) AS [a-z]+$/, from);
    const node = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'node', 'package.json'), 'utf8')) as {
      version: string;
    };
    // The same Node as the root package.json's `node` devDependency (the stand-in base uses that binary).
    assert.match(
      text,
      new RegExp(`^ARG NODE_IMAGE=node:${node.version.replace(/\./g, '\\.')}-bookworm-slim$`, 'm'),
    );
  });
  void it('.dockerignore keeps node_modules, build output and git out of the context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', '**/node_modules', '**/dist']) assert.ok(ignore.includes(entry), entry);
  });
});
