import { createLogger, describeConfig, exitOnConfigError, loadConfig, runService } from '@shop/platform';
import type { Config } from './config';
import { schema } from './config';
import { createService } from './service';

function main(): void {
  if (process.argv.includes('--help')) {
    process.stdout.write(
      `gateway: the REST edge of the shop.\n\nVariables:\n${describeConfig(schema).join('\n')}\n`,
    );
    process.exit(0);
  }
  let config: Config;
  try {
    config = loadConfig(schema, process.env);
  } catch (err) {
    exitOnConfigError(err, 'gateway', describeConfig(schema));
  }
  const logger = createLogger('gateway', config.LOG_LEVEL);
  runService(createService(config, { logger }), logger, config.SHUTDOWN_TIMEOUT_MS);
}

main();
