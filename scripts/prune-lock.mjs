#!/usr/bin/env node
// Cuts the workspace down to what one service needs at runtime, for its image's `npm ci --omit=dev`:
//   node scripts/prune-lock.mjs <repo-dir> <service> <out-dir>
// writes <out-dir>/package.json (the root, with only the workspaces the service runs on and no devDependencies),
// each of those workspaces' package.json without devDependencies, a package-lock.json holding exactly the entries
// reachable from the service's production dependencies (through workspace links, peers and optional dependencies),
// and <out-dir>/workspaces.txt (one workspace directory a line). The lock entries are copied unchanged from the
// repository's package-lock.json, so the image installs the same versions as every other install.
//
// Why not `turbo prune --docker`: its npm lockfile drops the platform packages that turbo lists as optional
// dependencies, and `npm ci` then refuses it ("Missing: @turbo/darwin-64 from lock file"); and `npm ci --omit=dev
// --workspace` on the full lockfile still installs the workspaces that the service only uses in its tests.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [repo, service, out] = process.argv.slice(2);
if (!repo || !service || !out) {
  console.error('usage: node scripts/prune-lock.mjs <repo-dir> <service> <out-dir>');
  process.exit(2);
}
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
const entries = lock.packages;
const start = `services/${service}`;
if (!entries[start]) {
  console.error(`prune-lock: no workspace ${start} in package-lock.json`);
  process.exit(2);
}

/** The lock path a dependency `name` of the package at lock path `from` resolves to (node's lookup, upwards). */
function resolve(from, name) {
  let dir = from;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (entries[candidate]) return candidate;
    if (dir === '') return undefined;
    const idx = dir.lastIndexOf('/node_modules/');
    dir = idx >= 0 ? dir.slice(0, idx) : '';
  }
}

const keep = new Set();
const workspaces = new Set();
const queue = [start];
while (queue.length > 0) {
  const path = queue.pop();
  if (keep.has(path)) continue;
  keep.add(path);
  const entry = entries[path];
  if (entry.link) {
    queue.push(entry.resolved);
    continue;
  }
  if (!path.includes('node_modules/')) workspaces.add(path);
  const deps = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
  for (const name of Object.keys(deps)) {
    const target = resolve(path, name);
    if (target) queue.push(target);
    else if (!entry.optionalDependencies?.[name] && !entry.peerDependenciesMeta?.[name]?.optional) {
      console.error(`prune-lock: ${path} needs ${name}, which package-lock.json does not hold`);
      process.exit(1);
    }
  }
}

// Every workspace is linked from the root's node_modules (the service itself included).
for (const [path, entry] of Object.entries(entries)) {
  if (entry.link && workspaces.has(entry.resolved)) keep.add(path);
}

const rootPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const wsList = [...workspaces].sort();
const root = {
  name: rootPkg.name,
  version: rootPkg.version,
  private: true,
  license: rootPkg.license,
  workspaces: wsList,
};
const packages = {
  '': { name: root.name, version: root.version, license: root.license, workspaces: wsList },
};
for (const path of [...keep].sort()) {
  const { devDependencies: _dev, ...entry } = entries[path];
  packages[path] = entry;
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), JSON.stringify(root, null, 2) + '\n');
writeFileSync(
  join(out, 'package-lock.json'),
  JSON.stringify(
    { name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages },
    null,
    2,
  ) + '\n',
);
for (const ws of wsList) {
  const {
    devDependencies: _dev,
    scripts: _scripts,
    ...pkg
  } = JSON.parse(readFileSync(join(repo, ws, 'package.json'), 'utf8'));
  mkdirSync(join(out, ws), { recursive: true });
  writeFileSync(join(out, ws, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
}
writeFileSync(join(out, 'workspaces.txt'), wsList.join('\n') + '\n');
console.log(`${service}: ${wsList.join(' ')}; ${keep.size - wsList.length} lock entries`);
