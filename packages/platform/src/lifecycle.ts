import { shutdownTelemetry } from '@shop/telemetry';
import type { Logger } from './logger';
import { ConfigError } from './config';
import { errorMessage } from './retry';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The process shell around a service: start it, stop it on SIGTERM/SIGINT within the shutdown budget and exit 0;
 * exit non-zero with the reason when start-up fails or an error escapes.
 */
export function runService(service: Service, logger: Logger, shutdownTimeoutMs: number): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error(
        { code: 'SHUTDOWN_TIMEOUT' },
        `shutdown took longer than ${shutdownTimeoutMs} ms, exiting`,
      );
      logger.flush();
      process.exit(1);
    }, shutdownTimeoutMs);
    force.unref();
    service
      .stop()
      .then(() => shutdownTelemetry())
      .then(
        () => {
          logger.info('stopped');
          logger.flush();
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err: errorMessage(err), code: 'SHUTDOWN_FAILED' }, 'shutdown failed');
          logger.flush();
          process.exit(1);
        },
      );
  };
  // `on`, not `once`: Ctrl+C signals the whole process group and the launcher then sends SIGTERM too; a second
  // signal must not fall back to the default action and kill the process in the middle of its drain.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const fatal = (kind: string) => (err: unknown) => {
    logger.fatal(
      { err: errorMessage(err), stack: (err as Error)?.stack, code: kind },
      'unexpected error, exiting',
    );
    logger.flush();
    process.exit(1);
  };
  process.on('uncaughtException', fatal('UNCAUGHT_EXCEPTION'));
  process.on('unhandledRejection', fatal('UNHANDLED_REJECTION'));
  service.start().then(
    () => logger.info('started'),
    (err: unknown) => {
      logger.fatal(
        { err: errorMessage(err), code: 'STARTUP_FAILED' },
        `start-up failed: ${errorMessage(err)}`,
      );
      logger.flush();
      void service.stop().finally(() => process.exit(1));
    },
  );
}

/** For main.ts: print config violations plainly (not as JSON) before anything is bound, and exit 2. */
export function exitOnConfigError(err: unknown, service: string, help: string[]): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${service}: ${err.message}\n\nVariables:\n${help.join('\n')}\n`);
    process.exit(2);
  }
  throw err;
}
