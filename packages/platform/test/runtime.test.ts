import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { loadConfig, z } from '../src';
import { backendConfig, createBackend } from '../src/runtime';
import pino from 'pino';

const schema = z.object(backendConfig(0, 0));
const logger = pino({ level: 'silent' });
const parts = {
  migrationsDirs: [],
  grpcServices: () => [],
  consumers: () => [],
  publishes: [],
};

describe('service runtime start-up', () => {
  it('reports not ready while PostgreSQL is unreachable, then fails with the reason', async () => {
    const config = loadConfig(schema, {
      DATABASE_URL: 'postgres://nobody:pw@127.0.0.1:1/none',
      KAFKA_BROKERS: '127.0.0.1:1',
      STARTUP_TIMEOUT_MS: '1500',
    });
    const service = createBackend('probe-test', config, parts, logger);
    // Capture the outcome now: start() rejects while the loop below is still polling /readyz.
    const started = service.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    let readyStatus = 0;
    for (let i = 0; i < 50 && readyStatus === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (service.ports.http)
        readyStatus = (await fetch(`http://127.0.0.1:${service.ports.http}/readyz`)).status;
    }
    assert.equal(readyStatus, 503, 'not ready while the database is unreachable');
    const err = await started;
    assert.ok(err instanceof Error, 'start must fail');
    assert.match(err.message, /PostgreSQL: still failing after \d+ attempts in 1500 ms/);
    await service.stop();
  });

  it('names the port and the variable when the HTTP port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const config = loadConfig(schema, {
      DATABASE_URL: 'postgres://nobody:pw@127.0.0.1:1/none',
      KAFKA_BROKERS: '127.0.0.1:1',
      HTTP_PORT: String(port),
    });
    const service = createBackend('port-test', config, parts, logger);
    await assert.rejects(
      service.start(),
      new RegExp(`HTTP port ${port} on 127.0.0.1 is already in use; set HTTP_PORT`),
    );
    await service.stop();
    blocker.close();
  });
});
