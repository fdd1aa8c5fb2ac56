// File-based discovery (discovery.ts) on real gRPC, and the broker ACL fault (faults.ts instrumentBus).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { MessageBus, OutgoingRecord } from '../src/index';
import {
  backendConfig,
  CONSUMER_SESSION_TIMEOUT_MS,
  ConfigError,
  createGrpcClient,
  createLogger,
  createMetrics,
  env,
  FaultRegistry,
  grpc,
  instrumentBus,
  loadConfig,
  parseEndpoints,
  startGrpcServer,
  unary,
} from '../src/index';
import { EchoClient, echoDefinition } from './support';

const quiet = () => createLogger('discovery-test', 'silent');

const def = echoDefinition;
const Client = EchoClient;

async function echoServer(reply: string) {
  return startGrpcServer(
    {
      services: [
        {
          name: 'test.Echo',
          definition: def,
          implementation: {
            echo: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from(reply)),
          },
        },
      ],
      reflection: false,
      metrics: createMetrics(`srv-${reply}`),
      logger: quiet(),
    },
    '127.0.0.1',
    0,
    'GRPC_PORT',
  );
}

describe('file: gRPC targets (discovery file)', () => {
  it('parses host:port lines, skips comments, refuses anything else', () => {
    assert.deepEqual(parseEndpoints('# x\n127.0.0.1:1\n\n a.b:65535 # c\n'), [
      { host: '127.0.0.1', port: 1 },
      { host: 'a.b', port: 65535 },
    ]);
    assert.throws(() => parseEndpoints('127.0.0.1'), /not host:port/);
    const schema = z.object({ A: env.grpcTarget('127.0.0.1:1', 'a target') });
    assert.equal(
      loadConfig(schema, { A: 'file:/etc/shop/inventory.endpoints' }).A,
      'file:/etc/shop/inventory.endpoints',
    );
    assert.throws(() => loadConfig(schema, { A: 'file:relative' }), ConfigError);
  });

  for (const [name, refreshMs, follows] of [
    ['follows a moved endpoint within its TTL', 300, true],
    ['keeps the stale endpoint while its TTL lasts', 60_000, false],
  ] as const) {
    it(name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'discovery-'));
      const file = join(dir, 'echo.endpoints');
      const a = await echoServer('a');
      const b = await echoServer('b');
      writeFileSync(file, `127.0.0.1:${a.port}\n`);
      const client = createGrpcClient(Client, `file:${file}`, {
        deadlineMs: 1000,
        metrics: createMetrics('cli'),
        discoveryRefreshMs: refreshMs,
      });
      const echo = (client.echo as (...x: unknown[]) => grpc.ClientUnaryCall).bind(client);
      const call = () =>
        unary<Buffer, Buffer>(echo, Buffer.alloc(0)).then(
          (r) => r.toString(),
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
      try {
        assert.equal(await call(), 'a');
        // Moved: b is listed, a is gone.
        writeFileSync(file, `127.0.0.1:${b.port}\n`);
        await a.stop(100);
        await sleep(refreshMs < 1000 ? 800 : 300);
        const seen = [await call(), await call()];
        if (follows) assert.deepEqual(seen, ['b', 'b']);
        else assert.deepEqual(seen, ['UNAVAILABLE', 'UNAVAILABLE']);
      } finally {
        client.close();
        await b.stop(100);
        await a.stop(100);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('KAFKA_SESSION_TIMEOUT_MS', () => {
  const schema = z.object(backendConfig(0, 0));
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/d', KAFKA_BROKERS: '127.0.0.1:9092' };
  it('defaults to the 6 s session and is bounded (1 s to 5 min)', () => {
    assert.equal(loadConfig(schema, base).KAFKA_SESSION_TIMEOUT_MS, CONSUMER_SESSION_TIMEOUT_MS);
    assert.equal(
      loadConfig(schema, { ...base, KAFKA_SESSION_TIMEOUT_MS: '15000' }).KAFKA_SESSION_TIMEOUT_MS,
      15000,
    );
    assert.throws(
      () => loadConfig(schema, { ...base, KAFKA_SESSION_TIMEOUT_MS: '500' }),
      /KAFKA_SESSION_TIMEOUT_MS/,
    );
  });
});

describe('kafka-acl-denied', () => {
  it('fails the whole publish with TOPIC_AUTHORIZATION_FAILED while on, and sends again once off', async () => {
    const sent: OutgoingRecord[][] = [];
    const bus = {
      send: (r: OutgoingRecord[]) => Promise.resolve(void sent.push(r)),
    } as unknown as MessageBus;
    const faults = new FaultRegistry('orders', quiet(), createMetrics('orders'));
    const wrapped = instrumentBus(bus, faults);
    const records = [
      { topic: 'payments.commands.v1', key: 'k', value: 'v' },
      { topic: 'inventory.commands.v1', key: 'k', value: 'v' },
    ];
    faults.set('kafka-acl-denied', { topic: 'inventory.commands.v1' });
    await assert.rejects(wrapped.send(records), (err: Error & { type?: string; retriable?: boolean }) => {
      assert.equal(err.type, 'TOPIC_AUTHORIZATION_FAILED');
      assert.equal(err.retriable, false);
      assert.match(err.message, /Not authorized to access topics: \[inventory\.commands\.v1\]/);
      return true;
    });
    assert.equal(sent.length, 0, 'nothing of the batch reached the broker');
    await wrapped.send([{ topic: 'payments.commands.v1', key: 'k', value: 'v' }]);
    assert.equal(sent.length, 1, 'other topics are allowed');
    faults.clear('kafka-acl-denied');
    await wrapped.send(records);
    assert.equal(sent.at(-1)?.length, 2);
  });
});
