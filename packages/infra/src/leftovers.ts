import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { killLeftovers, lockPath, ownerAlive, readLock } from './lock.js';
import { isAlive, waitFor } from './proc.js';

export interface StopResult {
  /** What happened, for humans. */
  message: string;
  stopped: boolean;
}

/**
 * Stops the infrastructure recorded in a state dir's lock: asks a live owner to shut down (SIGTERM, it stops its own
 * children), then kills recorded children that are still ours (a crashed or unresponsive owner) and removes the lock.
 */
export async function stopLeftovers(stateDirArg: string, ownerGraceMs = 15_000): Promise<StopResult> {
  const stateDir = resolve(stateDirArg);
  const lock = readLock(stateDir);
  if (!lock) return { stopped: false, message: `nothing recorded in ${lockPath(stateDir)}: not running` };
  const parts: string[] = [];
  if (ownerAlive(lock) && lock.ownerPid !== process.pid) {
    process.kill(lock.ownerPid, 'SIGTERM');
    const gone = await waitFor(() => !isAlive(lock.ownerPid), ownerGraceMs, 200);
    parts.push(
      gone
        ? `owner pid ${lock.ownerPid} stopped`
        : `owner pid ${lock.ownerPid} did not exit within ${ownerGraceMs / 1000} s`,
    );
  }
  const killed = await killLeftovers(lock, stateDir);
  if (killed.length > 0) parts.push(`killed leftover processes: ${killed.join(', ')}`);
  const current = readLock(stateDir);
  if (current && current.ownerPid === lock.ownerPid && !ownerAlive(current)) {
    try {
      unlinkSync(lockPath(stateDir));
    } catch {
      // already removed by its owner
    }
  }
  return { stopped: true, message: parts.length > 0 ? parts.join('; ') : 'lock was stale; removed' };
}
