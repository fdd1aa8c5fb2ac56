import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Infra } from '@shop/infra';
import { infraUp } from './infra';
import { say } from './log';
import { PROFILES } from './options';
import { root, turbo } from './paths';
import { build, run } from './proc';

/** Passed and failed tests in the TAP reports of scripts/run-tests.mjs. */
function countTap(dir: string): { passed: number; failed: number } {
  let passed = 0;
  let failed = 0;
  if (!existsSync(dir)) return { passed, failed };
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.tap'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    passed += Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
    failed +=
      Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return { passed, failed };
}

/**
 * `npm test [-- <turbo run test options>]`: format, typecheck and lint, then every package's tests (one package at a
 * time) against a PostgreSQL and Kafka provisioned for the run; ends with "N passed, N failed".
 */
export async function testPlatform(turboArgs: string[]): Promise<void> {
  const started = Date.now();
  const checks: { name: string; ok: boolean }[] = [];
  const check = (name: string, status: number) => {
    checks.push({ name, ok: status === 0 });
    say('platform', `${status === 0 ? 'ok  ' : 'FAIL'} ${name}`);
  };
  await build();
  check(
    'format (prettier --check)',
    run(join(root, 'node_modules', '.bin', 'prettier'), ['--check', '--log-level=warn', '.']),
  );
  check(
    'typecheck and lint (turbo run typecheck lint)',
    run(turbo, ['run', 'typecheck', 'lint', '--continue', '--output-logs=errors-only']),
  );

  const reportDir = join(PROFILES.test.stateDir, 'reports');
  rmSync(reportDir, { recursive: true, force: true });
  let infra: Infra | undefined;
  let testsStatus = 1;
  try {
    infra = await infraUp(
      PROFILES.test,
      true,
      (source, line) => {
        // Tests provoke database errors on purpose (constraint checks); only a crash of the servers matters here.
        if (/\b(FATAL|PANIC)\b|exited|failed to start/i.test(line)) say(source, line);
      },
      // A test run killed by SIGKILL (a CI timeout) must not leave PostgreSQL and Kafka running.
      { watchdog: true },
    );
    for (const line of infra.describe()) say('infra', line);
    testsStatus = run(
      turbo,
      [
        'run',
        'test',
        '--concurrency=1',
        '--continue',
        '--output-logs=full',
        '--log-order=grouped',
        ...turboArgs,
      ],
      {
        env: {
          ...process.env,
          TEST_REPORT_DIR: reportDir,
          KAFKA_BROKERS: infra.kafkaBrokers,
          SHOP_TEST_DATABASE_URLS: JSON.stringify(infra.databaseUrls),
          SHOP_TEST_ADMIN_DATABASE_URL: infra.adminDatabaseUrl,
        },
      },
    );
  } catch (err) {
    say('platform', `could not provision the test infrastructure: ${(err as Error).message}`);
  } finally {
    await infra?.stop().catch((err: Error) => say('platform', `infrastructure stop failed: ${err.message}`));
  }
  const counts = countTap(reportDir);
  const checkPassed = checks.filter((c) => c.ok).length;
  const checkFailed = checks.length - checkPassed;
  // A package whose runner failed without writing a report (crash, compile error) still counts as a failure.
  const unreported = testsStatus !== 0 && counts.failed === 0 ? 1 : 0;
  const passed = counts.passed + checkPassed;
  const failed = counts.failed + checkFailed + unreported;
  console.log(
    `\ntests: ${counts.passed} passed, ${counts.failed} failed; checks: ${checkPassed} passed, ${checkFailed} failed; ${Math.round((Date.now() - started) / 1000)} s`,
  );
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
