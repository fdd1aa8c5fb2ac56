import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmdline, isAlive, processStartTime, terminate } from './proc.js';
import type { Logger } from './types.js';

export interface LockedProcess {
  name: string;
  pid: number;
  startTime: string;
  /** What its command line must contain to count as ours (default: the state dir). */
  marker?: string;
}

export interface LockContent {
  ownerPid: number;
  ownerStartTime: string;
  ownerCommand: string;
  stateDir: string;
  startedAt: string;
  processes: LockedProcess[];
}

export class AlreadyRunningError extends Error {
  constructor(
    message: string,
    readonly lock: LockContent,
  ) {
    super(message);
    this.name = 'AlreadyRunningError';
  }
}

export function lockPath(stateDir: string): string {
  return join(stateDir, 'infra.lock');
}

export function readLock(stateDir: string): LockContent | undefined {
  try {
    return JSON.parse(readFileSync(lockPath(stateDir), 'utf8')) as LockContent;
  } catch {
    return undefined;
  }
}

/** The owner still runs: same PID and same start time (so a recycled PID does not count). */
export function ownerAlive(lock: LockContent): boolean {
  return (
    isAlive(lock.ownerPid) &&
    (lock.ownerStartTime === '' || processStartTime(lock.ownerPid) === lock.ownerStartTime)
  );
}

/** A recorded child is still ours: alive, same start time, and its command line names our state dir (or marker). */
export function stillOurs(p: LockedProcess, stateDir: string): boolean {
  if (!isAlive(p.pid)) return false;
  if (p.startTime !== '' && processStartTime(p.pid) !== p.startTime) return false;
  return cmdline(p.pid).includes(p.marker ?? stateDir);
}

/**
 * Kills what a crashed run left behind (only processes that are provably ours). Returns what it killed, as
 * "name pid N". Services first, so that they do not log connection errors while the infrastructure goes away.
 */
export async function killLeftovers(lock: LockContent, stateDir: string): Promise<string[]> {
  const ours = lock.processes.filter((p) => stillOurs(p, stateDir));
  const infra = (p: LockedProcess): boolean => p.name === 'postgres' || p.name === 'kafka';
  const stop = (p: LockedProcess): Promise<void> =>
    terminate(p.pid, p.name === 'postgres' ? 'SIGINT' : 'SIGTERM', 5000, true);
  await Promise.all(ours.filter((p) => !infra(p)).map(stop));
  await Promise.all(ours.filter(infra).map(stop));
  return ours.map((p) => `${p.name} pid ${p.pid}`);
}

function describeOwner(lock: LockContent): string {
  const children = lock.processes.map((p) => `${p.name} pid ${p.pid}`).join(', ');
  return `pid ${lock.ownerPid}${lock.ownerCommand ? ` (${lock.ownerCommand.slice(0, 120)})` : ''}, since ${lock.startedAt}${children ? `; ${children}` : ''}`;
}

export class InfraLock {
  private released = false;

  private constructor(
    readonly stateDir: string,
    private content: LockContent,
  ) {}

  /**
   * Takes the lock of a state dir. A live owner means "already running": refused with a clear message. A lock left by
   * a crashed run is cleaned up: its recorded processes are killed if they are still ours, then the lock is taken.
   */
  static async acquire(stateDir: string, log: Logger): Promise<InfraLock> {
    const content: LockContent = {
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid),
      ownerCommand: process.argv.join(' '),
      stateDir,
      startedAt: new Date().toISOString(),
      processes: [],
    };
    for (let attempt = 0; attempt < 5; attempt += 1) {
      // Write the full content to a private file, then hard-link it into place: link() fails atomically when the
      // lock exists, so a reader never sees a half-written lock.
      const tmp = `${lockPath(stateDir)}.${process.pid}.${attempt}.tmp`;
      writeFileSync(tmp, JSON.stringify(content, null, 2));
      try {
        linkSync(tmp, lockPath(stateDir));
        return new InfraLock(stateDir, content);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
      const existing = readLock(stateDir);
      if (existing && ownerAlive(existing)) {
        throw new AlreadyRunningError(
          `local infrastructure in ${stateDir} is already running, ${describeOwner(existing)}. ` +
            `Stop it (Ctrl+C in its terminal, or \`node packages/infra/dist/src/cli.js down --state-dir ${stateDir}\`) ` +
            `or use another state dir and other ports.`,
          existing,
        );
      }
      if (existing) {
        const killed = await killLeftovers(existing, stateDir);
        log(
          'infra',
          `removed a stale lock of crashed run pid ${existing.ownerPid}${killed.length ? `; stopped its leftover processes: ${killed.join(', ')}` : ''}`,
        );
      } else {
        log('infra', `removed an unreadable lock file ${lockPath(stateDir)}`);
      }
      try {
        unlinkSync(lockPath(stateDir));
      } catch {
        // someone else removed it first; retry the link
      }
    }
    throw new Error(`could not take the lock ${lockPath(stateDir)} (another process keeps re-creating it)`);
  }

  get processes(): readonly LockedProcess[] {
    return this.content.processes;
  }

  /** Records a started process (before waiting for it to be ready, so that a crash in between is still cleaned up). */
  record(name: string, pid: number, marker?: string): void {
    const entry: LockedProcess = {
      name,
      pid,
      startTime: processStartTime(pid),
      ...(marker ? { marker } : {}),
    };
    this.content = { ...this.content, processes: [...this.content.processes, entry] };
    this.write();
  }

  forget(pid: number): void {
    this.content = { ...this.content, processes: this.content.processes.filter((p) => p.pid !== pid) };
    this.write();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const current = readLock(this.stateDir);
    if (current && current.ownerPid === this.content.ownerPid) {
      try {
        unlinkSync(lockPath(this.stateDir));
      } catch {
        // already gone
      }
    }
  }

  private write(): void {
    if (this.released) return;
    const tmp = `${lockPath(this.stateDir)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.content, null, 2));
    renameSync(tmp, lockPath(this.stateDir));
  }
}
