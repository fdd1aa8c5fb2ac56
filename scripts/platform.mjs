#!/usr/bin/env node
// The entry of `npm start`, `npm test`, `npm run infra`, the tools (`npm run demo` ...) and the labs. The launcher
// itself is the typed workspace package tools/launcher (@shop/launcher); a fresh clone has no compiled copy of it,
// so this file checks the Node version, builds the launcher (and what it imports) with turbo, and hands over to it
// in this same process: the PID that npm, the state dir's lock and the labs know stays the launcher's. Its own
// progress goes to stderr, so that `npm run -s token` prints nothing but the token on stdout.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const [major, minor] = process.versions.node.split('.').map(Number);
// package.json's engines: the OpenTelemetry SDK needs >= 22.15.
if (major < 22 || (major === 22 && minor < 15)) {
  console.error(
    `Node.js ${process.versions.node} is too old: this project runs on Node 24 (>= 22.15). ` +
      'Run it through npm (`npm start`, `npm test`), which uses the Node 24 installed by `npm install` in node_modules/.bin.',
  );
  process.exit(1);
}

// Cached (the usual case) this takes about a second and prints nothing; a first build says what it is doing.
const build = spawn(
  join(root, 'node_modules', '.bin', 'turbo'),
  ['run', 'build', '--filter=@shop/launcher', '--output-logs=errors-only', '--log-prefix=none'],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } },
);
let output = '';
build.stdout.on('data', (c) => (output += c));
build.stderr.on('data', (c) => (output += c));
const started = Date.now();
let tick;
const slow = setTimeout(() => {
  process.stderr.write('building the launcher (turbo run build --filter=@shop/launcher)...\n');
  tick = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    process.stderr.write(`  still building the launcher... ${s} s\n`);
  }, 15_000);
}, 3000);
const stop = () => build.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const code = await new Promise((resolve) => build.on('close', (c) => resolve(c ?? 1)));
clearTimeout(slow);
clearInterval(tick);
process.removeListener('SIGINT', stop);
process.removeListener('SIGTERM', stop);
if (code !== 0) {
  process.stderr.write(`${output}\nthe launcher (tools/launcher) did not build: see the errors above\n`);
  process.exit(1);
}

const { main } = await import(pathToFileURL(join(root, 'tools', 'launcher', 'dist', 'src', 'cli.js')).href);
await main(process.argv.slice(2));
