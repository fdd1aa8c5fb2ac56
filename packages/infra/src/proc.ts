import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when a process with this PID exists (zombies excluded: they hold no port and are reaped by their parent). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readProcStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

/** The command line of a process, NUL separators turned into spaces ('' when unknown). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** State and start time (clock ticks since boot) from /proc/<pid>/stat; identifies a process across PID reuse. */
export function readProcStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function processStartTime(pid: number): string {
  return readProcStat(pid)?.startTime ?? '';
}

/** Waits until the predicate holds or the deadline passes; returns whether it held. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/**
 * Sends `signal`, waits up to graceMs for the process to disappear, then SIGKILLs it and waits again (bounded).
 * When `group` is set the whole process group (our children are group leaders, spawned detached) is signalled.
 */
export async function terminate(
  pid: number,
  signal: NodeJS.Signals,
  graceMs: number,
  group = false,
): Promise<void> {
  const send = (sig: NodeJS.Signals): void => {
    try {
      process.kill(group ? -pid : pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!isAlive(pid)) return;
  send(signal);
  if (await waitFor(() => !isAlive(pid), graceMs)) return;
  send('SIGKILL');
  await waitFor(() => !isAlive(pid), 2000);
}

/** The last `lines` lines of a process's log file, for an error message ('' when it cannot be read). */
export function tailFile(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
