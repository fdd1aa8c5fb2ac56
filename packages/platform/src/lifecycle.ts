import { shutdownTelemetry } from '@shop/telemetry';
import type { z } from 'zod';
import type { Logger } from './logger';
import { createLogger } from './logger';
import { ConfigError, describeConfig, loadConfig } from './config';
import { errorMessage } from './retry';
import type { FaultRegistry } from './faults';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The fault layer, when the service has one (shutdown-no-drain acts here). */
  readonly faults?: FaultRegistry;
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
    const noDrain = service.faults?.params('shutdown-no-drain');
    if (noDrain) {
      // The fault: exit without draining anything (in-flight calls fail, consumers do not leave their groups).
      logger.warn(
        { signal, fault: 'shutdown-no-drain', code: 'FAULT_ACTED' },
        'exiting at once, not draining',
      );
      logger.flush();
      process.exit(noDrain.exitCode);
    }
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
  // Started by the local launcher with an IPC channel: it closes when the launcher dies, even by SIGKILL, and the
  // service must not outlive it (nothing would stop it, and the next start would find its ports taken).
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => shutdown('parent exited'));
  }
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

export interface MainOptions<S extends z.ZodObject> {
  /** Service name: in logs, `--help` and configuration errors. */
  name: string;
  /** One line on what the service is, for `--help`. */
  about: string;
  schema: S;
  create: (config: z.infer<S>, opts: { logger: Logger }) => Service;
}

/**
 * The whole of a service's main.ts: `--help` lists the variables; invalid configuration exits 2 before anything is
 * bound, naming every bad variable; otherwise the service runs until SIGTERM/SIGINT.
 */
export function runMain<S extends z.ZodObject>(opts: MainOptions<S>): void {
  const help = describeConfig(opts.schema);
  if (process.argv.includes('--help')) {
    process.stdout.write(`${opts.name}: ${opts.about}\n\nVariables:\n${help.join('\n')}\n`);
    process.exit(0);
  }
  let config: z.infer<S>;
  try {
    config = loadConfig(opts.schema, process.env);
  } catch (err) {
    exitOnConfigError(err, opts.name, help);
  }
  const { LOG_LEVEL, SHUTDOWN_TIMEOUT_MS } = config as { LOG_LEVEL: string; SHUTDOWN_TIMEOUT_MS: number };
  const logger = createLogger(opts.name, LOG_LEVEL);
  runService(opts.create(config, { logger }), logger, SHUTDOWN_TIMEOUT_MS);
}
