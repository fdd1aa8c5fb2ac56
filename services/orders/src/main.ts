import { createLogger, describeConfig, exitOnConfigError, loadConfig, runService } from '@shop/platform';
import { schema, type Config } from './config';
import { createService } from './service';

if (process.argv.includes('--help')) {
  process.stdout.write(
    `orders: the Order aggregate and the order saga orchestrator\n\nVariables:\n${describeConfig(schema).join('\n')}\n`,
  );
  process.exit(0);
}

let config: Config;
try {
  config = loadConfig(schema, process.env);
} catch (err) {
  exitOnConfigError(err, 'orders', describeConfig(schema));
}
const logger = createLogger('orders', config.LOG_LEVEL);
runService(createService(config, { logger }), logger, config.SHUTDOWN_TIMEOUT_MS);
