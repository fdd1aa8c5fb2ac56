import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_TOPICS } from '@shop/contracts';
import { startInfra, type Infra, type InfraOptions, type LogSource } from '@shop/infra';
import { say } from './log';
import type { Args, Profile } from './options';
import { DATA_SERVICES } from './ports';
import { build, watchParent } from './proc';

/** PostgreSQL (a database and a role per data service) and Kafka (every topic) for `profile`. */
export function infraUp(
  p: Profile,
  reset: boolean,
  log: (source: LogSource, line: string) => void,
  extra: Partial<InfraOptions> = {},
): Promise<Infra> {
  return startInfra({
    stateDir: p.stateDir,
    services: DATA_SERVICES,
    postgresPort: p.postgresPort,
    kafkaPort: p.kafkaPort,
    topics: [...ALL_TOPICS],
    reset,
    log,
    ...extra,
  });
}

/** `npm run infra`: only PostgreSQL and Kafka, for developing one package's tests. */
export async function infraOnly(args: Args): Promise<void> {
  if (args.has('--help')) {
    console.log(`npm run infra -- [--name N] [--pg-port P] [--kafka-port K] [--reset]

Only PostgreSQL and Kafka (databases, roles and topics provisioned), for developing one package's tests;
the environment for those tests is written to .local/N/env.sh. Ctrl+C or SIGTERM stops both.

  --name N       state in .local/N (default: infra)
  --pg-port P    PostgreSQL port (55434)
  --kafka-port K Kafka port (59096; the controller uses K+1)
  --reset        wipe .local/N first`);
    return;
  }
  const profile = args.namedProfile({ name: 'infra', postgresPort: 55434, kafkaPort: 59096 });
  // Set once provisioning is done; a signal before that exits, the watchdog stopping what was started.
  const running: { infra?: Infra } = {};
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.infra?.stop().catch((err: Error) => say('platform', `stop failed: ${err.message}`));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.on('SIGHUP', () => void stop());
  watchParent(() => void stop());
  // Only what provisioning needs: the infra library and the topic list of the contracts.
  await build(['@shop/infra', '@shop/contracts']);
  if (stopping) return;
  const infra = await infraUp(
    profile,
    args.has('--reset'),
    (source, line) => {
      if (source === 'infra' || /error|fatal/i.test(line)) say(source, line);
    },
    { watchdog: true },
  );
  if (stopping) return void (await infra.stop());
  running.infra = infra;
  const envFile = join(profile.stateDir, 'env.sh');
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    envFile,
    [
      `export KAFKA_BROKERS=${q(infra.kafkaBrokers)}`,
      `export SHOP_TEST_DATABASE_URLS=${q(JSON.stringify(infra.databaseUrls))}`,
      `export SHOP_TEST_ADMIN_DATABASE_URL=${q(infra.adminDatabaseUrl)}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  for (const line of infra.describe()) say('infra', line);
  say('platform', `infrastructure up; for tests: source ${envFile}   Stop: Ctrl+C or SIGTERM`);
}
