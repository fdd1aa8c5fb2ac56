#!/usr/bin/env node
// Outlives the owner of a state dir for one purpose: when the owner dies without stopping its children (SIGKILL,
// OOM kill), stop them through the lock, as the next start would, so that nothing keeps running unowned.
// Started detached by startInfra({ watchdog: true }); exits as soon as the lock is released or taken by another run.
// Usage: node watchdog.js <stateDir> <ownerPid> <ownerStartTime>
import { appendFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { killLeftovers, lockPath, ownerAlive, readLock } from './lock.js';

const POLL_MS = 500;
const [stateDir = '', ownerArg = '', ownerStartTime = ''] = process.argv.slice(2);
const ownerPid = Number(ownerArg);

function note(line: string): void {
  try {
    appendFileSync(join(stateDir, 'watchdog.log'), `${new Date().toISOString()} ${line}\n`);
  } catch {
    // the state dir was removed: nothing left to watch
  }
}

async function check(): Promise<boolean> {
  const lock = readLock(stateDir);
  if (!lock || lock.ownerPid !== ownerPid || lock.ownerStartTime !== ownerStartTime) return true;
  if (ownerAlive(lock)) return false;
  const killed = await killLeftovers(lock, stateDir);
  try {
    unlinkSync(lockPath(stateDir));
  } catch {
    // already removed
  }
  note(
    `owner pid ${ownerPid} died without stopping its processes; stopped ${killed.length ? killed.join(', ') : 'nothing (all gone)'}`,
  );
  return true;
}

if (!stateDir || !Number.isInteger(ownerPid) || ownerPid <= 0) {
  process.stderr.write('usage: watchdog.js <stateDir> <ownerPid> <ownerStartTime>\n');
  process.exit(2);
}
// The owner's Ctrl+C or SIGTERM is not for us: it stops its children itself, then releases the lock.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
const loop = async (): Promise<void> => {
  for (;;) {
    if (await check()) process.exit(0);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
};
void loop();
