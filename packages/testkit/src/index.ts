import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestInfra {
  /** Per service, with that service's own role. */
  databaseUrls: Record<string, string>;
  adminDatabaseUrl: string;
  kafkaBrokers: string;
}

/**
 * The real PostgreSQL and Kafka that `npm test` provisions for the run (see tools/launcher). Tests never
 * substitute in-memory fakes for them; run a package's tests through the root `npm test -- --filter=<package>`.
 */
export function testInfra(env: NodeJS.ProcessEnv = process.env): TestInfra {
  const urls = env.SHOP_TEST_DATABASE_URLS;
  const admin = env.SHOP_TEST_ADMIN_DATABASE_URL;
  const brokers = env.KAFKA_BROKERS;
  if (!urls || !admin || !brokers) {
    throw new Error(
      'integration tests need the real infrastructure: run them with `npm test` at the repository root ' +
        '(optionally `npm test -- --filter=@shop/orders`), or export SHOP_TEST_DATABASE_URLS, ' +
        'SHOP_TEST_ADMIN_DATABASE_URL and KAFKA_BROKERS (`node scripts/platform.mjs infra` prints them)',
    );
  }
  return {
    databaseUrls: JSON.parse(urls) as Record<string, string>,
    adminDatabaseUrl: admin,
    kafkaBrokers: brokers,
  };
}

/** Environment for booting a backend service in-process on free ports. */
export function serviceEnv(
  service: string,
  infra: TestInfra,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const url = infra.databaseUrls[service];
  return {
    BIND_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: infra.kafkaBrokers,
    STARTUP_TIMEOUT_MS: '20000',
    ...(url ? { DATABASE_URL: url } : {}),
    ...extra,
  };
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${opts.what}${last ? `: last error ${(last as Error).message}` : ''}`,
      );
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** A customer id unique to this test run, valid for the API (1-64 of A-Z a-z 0-9 . _ -). */
export const uniqueCustomer = (prefix = 'cust') => `${prefix}-${randomUUID().slice(0, 12)}`;
export * from './certs';
export * from './kafka';
export * from './identity';
export * from './tokens';
