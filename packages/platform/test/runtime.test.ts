import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { loadConfig, z } from '../src';
import { backendConfig, backendContext, commonConfig, createBackend, createEdge } from '../src/runtime';
import pino from 'pino';

const schema = z.object(backendConfig(0, 0));
const logger = pino({ level: 'silent' });
const parts = {
  migrationsDirs: [],
  grpcServices: [],
  consumers: [],
  publishes: [],
};

describe('service runtime start-up', () => {
  it('reports not ready while PostgreSQL is unreachable, then fails with the reason', async () => {
    const config = loadConfig(schema, {
      DATABASE_URL: 'postgres://nobody:pw@127.0.0.1:1/none',
      KAFKA_BROKERS: '127.0.0.1:1',
      STARTUP_TIMEOUT_MS: '1500',
    });
    const service = createBackend(config, backendContext('probe-test', config, logger), parts);
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
    const service = createBackend(config, backendContext('port-test', config, logger), parts);
    await assert.rejects(
      service.start(),
      new RegExp(`HTTP port ${port} on 127.0.0.1 is already in use; set HTTP_PORT`),
    );
    await service.stop();
    blocker.close();
  });
});

describe('service runtime drain (SHUTDOWN_DRAIN_DELAY_MS)', () => {
  const edgeSchema = z.object(commonConfig(0));
  const startEdge = async (env: Record<string, string>) => {
    const edge = createEdge(
      'drain-test',
      loadConfig(edgeSchema, env),
      (app) => {
        app.get('/v1/ping', () => ({ pong: true }));
      },
      {},
      { logger },
    );
    await edge.start();
    return { edge, url: `http://127.0.0.1:${edge.ports.http}` };
  };
  const status = (url: string) =>
    fetch(url).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      () => 0,
    );

  it('after stop() begins: not ready, still serving, for the delay; then the listener is closed', async () => {
    const { edge, url } = await startEdge({ SHUTDOWN_DRAIN_DELAY_MS: '600', SHUTDOWN_TIMEOUT_MS: '5000' });
    assert.equal(await status(`${url}/readyz`), 200);
    const began = Date.now();
    const stopped = edge.stop().then(() => Date.now() - began);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await status(`${url}/readyz`), 503, 'not ready during the delay');
    assert.equal(await status(`${url}/v1/ping`), 200, 'still serving during the delay');
    const ms = await stopped;
    assert.ok(ms >= 550, `stop waited the delay (${ms} ms)`);
    assert.equal(await status(`${url}/v1/ping`), 0, 'closed afterwards');
  });

  it('by default (0) closes at once; the delay is capped at half of SHUTDOWN_TIMEOUT_MS', async () => {
    const a = await startEdge({});
    let began = Date.now();
    await a.edge.stop();
    assert.ok(Date.now() - began < 400, 'no delay by default');
    assert.equal(await status(`${a.url}/v1/ping`), 0);
    const b = await startEdge({ SHUTDOWN_DRAIN_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '800' });
    began = Date.now();
    await b.edge.stop();
    const ms = Date.now() - began;
    assert.ok(ms >= 350 && ms < 1500, `capped at 400 ms (${ms} ms)`);
  });
});
