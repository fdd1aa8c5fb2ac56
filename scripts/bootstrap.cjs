#!/usr/bin/env node
// Runs before `npm start` and `npm test` (npm's pre-scripts), on whatever Node the machine has (20 is enough here):
// installs the workspace's dependencies when they are missing or older than package-lock.json, so the README's
// two commands work on a fresh clone. The project itself then runs on the Node 24 that this install provides.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const node24 = join(root, 'node_modules', '.bin', 'node');

const stale =
  !existsSync(installed) || !existsSync(node24) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  // Not `npm ci`: it refuses lock files that lack other platforms' optional builds (turbo's), which some
  // registries do not serve; `npm install` installs the locked versions all the same.
  const args = ['install', '--no-audit', '--no-fund'];
  process.stdout.write(`installing dependencies (npm ${args[0]}), once...\n`);
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) {
    process.stderr.write(
      'dependency installation failed: see the npm output above (is the npm registry reachable?)\n',
    );
    process.exit(1);
  }
}
