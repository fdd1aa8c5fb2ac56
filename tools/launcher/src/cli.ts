// The launcher behind the README's commands. scripts/platform.mjs (plain JavaScript, so that it runs on a fresh
// clone) builds this package and calls `main`: `npm start` (PostgreSQL, Kafka and the four services, one combined
// log, clean stop on Ctrl+C / SIGTERM), `npm test` (checks plus every package's tests against real PostgreSQL and
// Kafka, ending with "N passed, N failed"), `npm run infra`, the tools of load/, the labs and `npm run token`.
import { infraOnly } from './infra';
import { Args } from './options';
import { startPlatform } from './start';
import { testPlatform } from './test';
import { printToken } from './token';
import { runLabs, runTool } from './tools';

const USAGE =
  'usage: node scripts/platform.mjs start|test|infra|tool|lab|token   (normally via `npm start`, `npm test`, `npm run infra`)\n' +
  '  token <username> [--password P] [--issuer URL]: an access token on stdout (`npm run -s token -- alice`)\n' +
  '  start --help: options of `npm start`\n' +
  '  infra --name N --pg-port P --kafka-port K [--reset]: only PostgreSQL and Kafka, env for tests in .local/N/env.sh (`npm run infra -- --help`)';

/** Runs one command of the launcher: `argv` is what follows `scripts/platform.mjs` on its command line. */
export async function main([command = 'help', ...args]: string[]): Promise<void> {
  if (command === 'start') await startPlatform(new Args(args));
  else if (command === 'lab') runLabs(args);
  else if (command === 'tool') await runTool(args);
  else if (command === 'infra') await infraOnly(new Args(args));
  else if (command === 'test') await testPlatform(args);
  else if (command === 'token') process.exit(await printToken(args));
  else {
    console.log(USAGE);
    process.exit(command === 'help' ? 0 : 2);
  }
}
