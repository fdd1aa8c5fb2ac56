import { execFile, spawnSync } from 'node:child_process';

/** The promtool binary: $PROMTOOL, else `promtool` on PATH (Debian: `apt-get install -y prometheus`). */
export const promtoolBin = process.env.PROMTOOL ?? 'promtool';

/** Throws a clear message when promtool cannot be run, so that a missing binary is a failure, not a skip. */
export function requirePromtool(): void {
  const probe = spawnSync(promtoolBin, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `promtool is required but "${promtoolBin}" cannot be run (${probe.error?.message ?? `exit ${probe.status}`}). ` +
        'Install it with `apt-get install -y prometheus` (Debian) or set PROMTOOL to its path.',
    );
  }
}

export interface PromtoolResult {
  code: number;
  output: string;
}

export function promtool(args: string[], cwd: string): Promise<PromtoolResult> {
  return new Promise((resolve) => {
    execFile(
      promtoolBin,
      args,
      { cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}
