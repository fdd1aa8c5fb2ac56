import { describeConfig, exitOnConfigError, loadConfig, runService, startupLogger } from '@shop/platform';
import type { Config } from './config';
import { schema } from './config';
import { createService } from './service';

if (process.argv.includes('--help')) {
  process.stdout.write(
    `payments: customer credit accounts and payments\n\nVariables:\n${describeConfig(schema).join('\n')}\n`,
  );
  process.exit(0);
}

let config: Config;
try {
  config = loadConfig(schema, process.env);
} catch (err) {
  exitOnConfigError(err, 'payments', describeConfig(schema));
}
const logger = startupLogger('payments', config);
runService(createService(config, { logger }), logger, config.SHUTDOWN_TIMEOUT_MS);
