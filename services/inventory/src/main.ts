import { describeConfig, exitOnConfigError, loadConfig, runService, startupLogger } from '@shop/platform';
import type { Config } from './config';
import { schema } from './config';
import { createService } from './service';

const help = describeConfig(schema);
if (process.argv.includes('--help')) {
  process.stdout.write(
    `inventory: products, prices and stock reservations (gRPC + Kafka)\n\nVariables:\n${help.join('\n')}\n`,
  );
  process.exit(0);
}

let config: Config;
try {
  config = loadConfig(schema, process.env);
} catch (err) {
  exitOnConfigError(err, 'inventory', help);
}
const logger = startupLogger('inventory', config);
runService(createService(config, { logger }), logger, config.SHUTDOWN_TIMEOUT_MS);
