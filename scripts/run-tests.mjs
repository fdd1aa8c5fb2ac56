#!/usr/bin/env node
// Runs one package's compiled tests with the built-in node:test runner.
// Human output goes to stdout (spec reporter); when TEST_REPORT_DIR is set, a TAP copy is written there so that
// `npm test` at the root can add up passed and failed tests across packages.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const cwd = process.cwd();
const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'));
if (!existsSync(join(cwd, 'dist', 'test'))) {
  console.error(`${pkg.name}: no compiled tests in dist/test (run the build first)`);
  process.exit(1);
}
const args = [
  '--disable-warning=TimeoutNegativeWarning',
  '--test',
  '--test-timeout=180000',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
];
const reportDir = process.env.TEST_REPORT_DIR;
if (reportDir) {
  mkdirSync(reportDir, { recursive: true });
  const file = join(reportDir, `${pkg.name.replace(/[@/]/g, '_')}.tap`);
  args.push('--test-reporter=tap', `--test-reporter-destination=${file}`);
}
args.push('dist/test/**/*.test.js');
// A test process that never exits (an open socket or timer after its last test) must fail the run, not hang it.
// 15 minutes, or the package's own `testTimeoutMinutes` (labs: every lab twice on one platform takes longer).
const budgetMs = Number(process.env.SHOP_TEST_PACKAGE_TIMEOUT_MS ?? (pkg.testTimeoutMinutes ?? 15) * 60_000);
const result = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  cwd,
  timeout: budgetMs,
  killSignal: 'SIGKILL',
});
if (result.error?.code === 'ETIMEDOUT') {
  console.error(
    `${pkg.name}: tests still running after ${budgetMs / 60_000} min; killed (a test process did not exit: open handle?)`,
  );
}
process.exit(result.status ?? 1);
