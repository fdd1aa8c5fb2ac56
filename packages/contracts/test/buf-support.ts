// Runs the buf binary shipped by @bufbuild/buf, with Node 24 and node_modules/.bin (ts-proto's plugin) on PATH.
import { spawnSync } from 'node:child_process';
import { delimiter, dirname, join, resolve } from 'node:path';

/** packages/contracts (tests run from dist/test/). */
export const packageDir = resolve(__dirname, '..', '..');
export const repoRoot = resolve(packageDir, '..', '..');

export interface RunResult {
  status: number | null;
  output: string;
}

export function run(command: string, args: readonly string[], cwd: string = packageDir): RunResult {
  const binDirs = [
    join(packageDir, 'node_modules', '.bin'),
    join(repoRoot, 'node_modules', '.bin'),
    dirname(process.execPath),
  ];
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PATH: [...binDirs, process.env.PATH ?? ''].join(delimiter) },
  });
  const error = result.error === undefined ? '' : `spawn error: ${result.error.message}\n`;
  return { status: result.status, output: `${error}${result.stdout ?? ''}${result.stderr ?? ''}` };
}

export function buf(args: readonly string[], cwd: string = packageDir): RunResult {
  const bufBin = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');
  return run(process.execPath, [bufBin, ...args], cwd);
}

/** Describes a failed command for an assertion message. */
export function describe(what: string, result: RunResult): string {
  return `${what} exited with ${String(result.status)}:\n${result.output}`;
}
