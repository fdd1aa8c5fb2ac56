#!/usr/bin/env node
// The issuer process that `npm start` runs. SIGHUP rotates the signing key; SIGINT/SIGTERM stop it. JSON log lines
// (pino's shape) on stdout.
import { loadConfig } from './config';
import { startIssuer } from './issuer';

const log = (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}) =>
  void process.stdout.write(
    `${JSON.stringify({ level: { info: 30, warn: 40, error: 50 }[level], time: new Date().toISOString(), service: 'issuer', msg, ...fields })}\n`,
  );

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const issuer = await startIssuer({
    port: config.port,
    host: config.host,
    stateDir: config.stateDir,
    consoleOrigins: config.consoleOrigins,
    ...(config.url ? { url: config.url } : {}),
    log,
  });
  process.on('SIGHUP', () => {
    issuer.rotateKeys().catch((err: Error) => log('error', 'key rotation failed', { err: err.message }));
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void issuer.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Started by the launcher with an IPC channel: when the launcher dies, so does the issuer.
  if (process.send) process.on('disconnect', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`issuer failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
