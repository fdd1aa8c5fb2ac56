// The lock file alone (no database or broker): live owners are refused, stale locks are cleaned up, and only
// processes that are provably ours are killed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { AlreadyRunningError, InfraLock, lockPath, readLock, type LockContent } from '../src/lock.js';
import { isAlive, processStartTime, waitFor } from '../src/proc.js';
import { removeTempDirs, tempStateDir } from './helpers.js';

function sleeper(...extraArgs: string[]): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)', ...extraArgs], { stdio: 'ignore' });
}

function deadPid(): number {
  const res = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(res.stdout);
}

function writeLock(stateDir: string, content: Partial<LockContent>): void {
  mkdirSync(stateDir, { recursive: true });
  const full: LockContent = {
    ownerPid: 0,
    ownerStartTime: '',
    ownerCommand: 'test',
    stateDir,
    startedAt: new Date().toISOString(),
    processes: [],
    ...content,
  };
  writeFileSync(lockPath(stateDir), JSON.stringify(full));
}

const noLog = (): void => undefined;

describe('infra.lock', () => {
  after(removeTempDirs);

  it('refuses to start while the recorded owner is alive', async () => {
    const stateDir = tempStateDir('lock-live');
    const owner = sleeper();
    try {
      await waitFor(() => processStartTime(owner.pid ?? 0) !== '', 2000);
      writeLock(stateDir, { ownerPid: owner.pid, ownerStartTime: processStartTime(owner.pid ?? 0) });
      await assert.rejects(InfraLock.acquire(stateDir, noLog), (err: Error) => {
        assert.ok(err instanceof AlreadyRunningError);
        assert.match(
          err.message,
          new RegExp(`already running, pid ${owner.pid}.*Stop it .*down --state-dir`),
        );
        return true;
      });
      assert.equal(readLock(stateDir)?.ownerPid, owner.pid, 'the live lock is left alone');
    } finally {
      owner.kill('SIGKILL');
    }
  });

  it('takes over a stale lock, killing only leftovers whose command line names the state dir', async () => {
    const stateDir = tempStateDir('lock-stale');
    const ours = sleeper(stateDir);
    const stranger = sleeper('/somewhere/else');
    try {
      await waitFor(
        () => processStartTime(ours.pid ?? 0) !== '' && processStartTime(stranger.pid ?? 0) !== '',
        2000,
      );
      writeLock(stateDir, {
        ownerPid: deadPid(),
        processes: [
          { name: 'kafka', pid: ours.pid ?? 0, startTime: processStartTime(ours.pid ?? 0) },
          { name: 'kafka', pid: stranger.pid ?? 0, startTime: processStartTime(stranger.pid ?? 0) },
        ],
      });
      const lines: string[] = [];
      const lock = await InfraLock.acquire(stateDir, (_s, line) => lines.push(line));
      assert.ok(await waitFor(() => !isAlive(ours.pid ?? 0), 2000), 'our leftover was killed');
      assert.ok(isAlive(stranger.pid ?? 0), 'a process that is not ours survives');
      assert.equal(readLock(stateDir)?.ownerPid, process.pid);
      assert.match(
        lines.join('\n'),
        new RegExp(`stale lock .*stopped its leftover processes: kafka pid ${ours.pid}$`),
      );
      lock.release();
      assert.ok(!existsSync(lockPath(stateDir)));
    } finally {
      ours.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });

  it('treats a recycled owner PID (other start time) as stale', async () => {
    const stateDir = tempStateDir('lock-reused');
    const impostor = sleeper();
    try {
      await waitFor(() => processStartTime(impostor.pid ?? 0) !== '', 2000);
      writeLock(stateDir, { ownerPid: impostor.pid, ownerStartTime: '1' });
      const lock = await InfraLock.acquire(stateDir, noLog);
      assert.ok(isAlive(impostor.pid ?? 0), 'an unrelated process holding a recycled PID is not killed');
      lock.release();
    } finally {
      impostor.kill('SIGKILL');
    }
  });
});
