#!/usr/bin/env node
// Runs before `npm start`, `npm test` and `npm run infra` (npm's pre-scripts), on whatever Node the machine has (20
// is enough here): installs the workspace's dependencies when they are missing or older than package-lock.json, so
// the README's commands work on a fresh clone. The project itself then runs on the Node 24 that this install provides.
//
// `npm ci`, not `npm install`: it installs exactly what package-lock.json records and never rewrites it, so a fresh
// clone stays clean (`git status`) after its first `npm start`.
'use strict';
const { spawn } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const node24 = join(root, 'node_modules', '.bin', 'node');

const stale =
  !existsSync(installed) || !existsSync(node24) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (!stale) process.exit(0);

const args = ['ci', '--no-audit', '--no-fund'];
const started = Date.now();
process.stdout.write(
  `installing dependencies (npm ${args.join(' ')}; about a minute the first time, once per change of package-lock.json)...\n`,
);
const npm = process.env.npm_execpath;
const child = npm
  ? spawn(process.execPath, [npm, ...args], { cwd: root, stdio: 'inherit' })
  : spawn('npm', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });

// npm ci prints nothing until it is done: a line every 15 s says it is still at work.
const countPackages = () => {
  try {
    return readdirSync(join(root, 'node_modules')).length;
  } catch {
    return 0;
  }
};
const tick = setInterval(() => {
  const s = Math.round((Date.now() - started) / 1000);
  process.stdout.write(
    `  still installing dependencies... ${s} s, ${countPackages()} entries in node_modules\n`,
  );
}, 15_000);

const stop = (signal) => child.kill(signal);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('error', () => undefined);
child.on('close', (code) => {
  clearInterval(tick);
  if (code === 0) {
    process.stdout.write(`dependencies installed in ${Math.round((Date.now() - started) / 1000)} s\n`);
    return;
  }
  process.stderr.write(
    'dependency installation failed: see the npm output above (is the npm registry reachable?). ' +
      'If you changed a package.json, update the lock file with `npm install` and commit it.\n',
  );
  process.exit(1);
});
