import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { say } from './log';
import { root, turbo } from './paths';

/** Runs a command to its end with the terminal's stdio; its exit status (1 when it died of a signal). */
export function run(cmd: string, cmdArgs: string[], opts: SpawnSyncOptions = {}): number {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

/**
 * `turbo run build` (for `filters`, or everything), with a "still building" line every 15 s and turbo's summary, so
 * that the first build of a fresh clone (a minute or two) is not silent. Exits on failure.
 */
export async function build(filters: string[] = []): Promise<void> {
  const started = Date.now();
  say('platform', `building (turbo run build${filters.map((f) => ` --filter=${f}`).join('')})...`);
  const child = spawn(
    turbo,
    [
      'run',
      'build',
      ...filters.map((f) => `--filter=${f}`),
      '--output-logs=errors-only',
      '--log-prefix=none',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } },
  );
  createInterface({ input: child.stdout }).on('line', (line) => {
    // turbo's summary ("Tasks: 12 successful, 12 total") and errors are worth showing; its banner is not.
    if (/^\s*(Tasks|Cached|Time|Failed):/.test(line) || /error|ERR!/i.test(line))
      say('platform', line.trim());
  });
  const tick = setInterval(
    () => say('platform', `  still building... ${Math.round((Date.now() - started) / 1000)} s`),
    15_000,
  );
  const stopBuild = () => void child.kill('SIGTERM');
  process.once('SIGTERM', stopBuild);
  process.once('SIGINT', stopBuild);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearInterval(tick);
  process.removeListener('SIGTERM', stopBuild);
  process.removeListener('SIGINT', stopBuild);
  if (code !== 0) {
    console.error('build failed: see the errors above');
    process.exit(1);
  }
  say('platform', `built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Polls `url` until it answers 200 or `timeoutMs` has passed. */
export async function waitReady(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

/** Waits for `child` to end, killing it (SIGKILL) after `ms`. */
export function waitExit(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    // 'close', not 'exit': the child's last log lines are read before the launcher moves on.
    child.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Stops the run when the process that started it is gone: npm killed by SIGKILL, or a shell between npm and us
 * killed by the signal meant for the whole run. We are then reparented, and process.ppid changes.
 */
export function watchParent(onGone: (parent: number) => void): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone(parent);
    }
  }, 500);
  timer.unref();
  return () => clearInterval(timer);
}
