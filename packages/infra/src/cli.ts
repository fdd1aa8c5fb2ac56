#!/usr/bin/env node
// Small CLI around startInfra: `up` runs in the foreground until Ctrl+C / SIGTERM, `down` stops what a state dir's
// lock records, `status` reports it. The launcher (npm start) uses the library directly.
import { parseArgs } from 'node:util';
import { isAlive } from './proc.js';
import { isListening } from './ports.js';
import { ownerAlive, readLock, stillOurs } from './lock.js';
import { stopLeftovers } from './leftovers.js';
import { startInfra } from './infra.js';
import type { TopicSpec } from './types.js';

const USAGE = `usage: node dist/src/cli.js <up|down|status> --state-dir DIR
  up options: --postgres-port N (55432) --kafka-port N (59092) --services a,b,c (orders,inventory,payments)
              --topics name:partitions,... --reset --quiet`;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function fail(message: string, code = 1): never {
  process.stderr.write(`shop-infra: ${message}\n`);
  process.exit(code);
}

function parseTopics(value: string | undefined): TopicSpec[] {
  if (!value) return [];
  return value.split(',').map((spec) => {
    const [name = '', partitions = '1'] = spec.split(':');
    return { name: name.trim(), partitions: Number(partitions) };
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      'postgres-port': { type: 'string', default: '55432' },
      'kafka-port': { type: 'string', default: '59092' },
      services: { type: 'string', default: 'orders,inventory,payments' },
      topics: { type: 'string' },
      reset: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  const stateDir = values['state-dir'];
  if (!command || !['up', 'down', 'status'].includes(command) || !stateDir) fail(USAGE, 2);

  if (command === 'status') {
    const lock = readLock(stateDir);
    if (!lock) {
      out(`not running (no lock in ${stateDir})`);
      process.exit(3);
    }
    const alive = ownerAlive(lock);
    out(`owner pid ${lock.ownerPid} ${alive ? 'running' : 'gone (stale lock)'} since ${lock.startedAt}`);
    for (const p of lock.processes)
      out(
        `  ${p.name} pid ${p.pid}: ${stillOurs(p, stateDir) ? 'running' : isAlive(p.pid) ? 'pid reused by another process' : 'gone'}`,
      );
    process.exit(alive ? 0 : 3);
  }

  if (command === 'down') {
    const result = await stopLeftovers(stateDir);
    out(result.message);
    return;
  }

  const postgresPort = Number(values['postgres-port']);
  const kafkaPort = Number(values['kafka-port']);
  const infra = await startInfra({
    stateDir,
    services: values.services
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    postgresPort,
    kafkaPort,
    topics: parseTopics(values.topics),
    reset: values.reset,
    log: values.quiet ? undefined : (source, line) => out(`[${source}] ${line}`),
  });
  for (const line of infra.describe()) out(line);
  for (const [service, url] of Object.entries(infra.databaseUrls)) out(`DATABASE_URL (${service}) = ${url}`);
  out(`KAFKA_BROKERS = ${infra.kafkaBrokers}`);
  out('ready; Ctrl+C or SIGTERM stops everything');
  await new Promise<void>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal());
    process.once('SIGTERM', () => resolveSignal());
  });
  const started = Date.now();
  await infra.stop();
  out(
    `stopped in ${((Date.now() - started) / 1000).toFixed(1)} s; ports ${postgresPort}, ${kafkaPort}, ${kafkaPort + 1} free: ${String(
      !(await isListening(postgresPort)) && !(await isListening(kafkaPort)),
    )}`,
  );
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
