// What a canary pod is switched to (helm: the canary track's KAFKA_CONSUMERS=off, DATABASE_MIGRATIONS=check) and
// the routing headers every service passes on (ROUTING_HEADERS), against the real PostgreSQL, Kafka and gRPC.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import pg from 'pg';
import { grpc, loadConfig, z } from '../src';
import { createGrpcClient, startGrpcServer } from '../src/grpc';
import { createMetrics } from '../src/metrics';
import { backendConfig, backendContext, createBackend } from '../src/runtime';
import { testInfra } from '@shop/testkit';
import { EchoClient, echoDefinition, kafkaClient, scratchDatabase, scratchTopics } from './support';

const schema = z.object(backendConfig(0, 0));
const logger = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function migrationsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shop-migrations-'));
  writeFileSync(join(dir, '0001_widgets.sql'), 'CREATE TABLE widgets (id int PRIMARY KEY);');
  return dir;
}

const backend = (env: Record<string, string>, parts: Partial<Parameters<typeof createBackend>[2]> = {}) => {
  const config = loadConfig(schema, {
    KAFKA_BROKERS: testInfra().kafkaBrokers,
    STARTUP_TIMEOUT_MS: '20000',
    ...env,
  });
  const service = createBackend(config, backendContext('canary-test', config, logger), {
    migrationsDirs: [],
    grpcServices: [],
    consumers: [],
    publishes: [],
    ...parts,
  });
  cleanups.push(() => service.stop());
  return service;
};

void describe('DATABASE_MIGRATIONS', () => {
  void it('check applies nothing and refuses to start while a migration is pending, naming it; apply applies it', async () => {
    const db = await scratchDatabase();
    cleanups.push(db.drop);
    const dir = migrationsDir();
    const canary = backend({ DATABASE_URL: db.url, DATABASE_MIGRATIONS: 'check' }, { migrationsDirs: [dir] });
    await assert.rejects(
      canary.start(),
      /DATABASE_MIGRATIONS=check: 1 migration\(s\) not applied: 0001_widgets\.sql; the stable release/,
    );
    await canary.stop();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    cleanups.push(() => c.end());
    const table = await c.query<{ t: string | null }>("SELECT to_regclass('widgets')::text AS t");
    assert.equal(table.rows[0]?.t, null, 'the canary created nothing');

    const stable = backend({ DATABASE_URL: db.url }, { migrationsDirs: [dir] });
    await stable.start();
    const after = await c.query<{ t: string | null }>("SELECT to_regclass('widgets')::text AS t");
    assert.equal(after.rows[0]?.t, 'widgets');
    const again = backend({ DATABASE_URL: db.url, DATABASE_MIGRATIONS: 'check' }, { migrationsDirs: [dir] });
    await again.start();
    await again.stop();
  });

  void it('a bad value is refused naming the variable', () => {
    assert.throws(
      () =>
        loadConfig(schema, {
          DATABASE_URL: 'postgres://a:b@h/d',
          KAFKA_BROKERS: 'h:1',
          DATABASE_MIGRATIONS: 'skip',
        }),
      /DATABASE_MIGRATIONS.*expected one of apply, check/s,
    );
    assert.throws(
      () =>
        loadConfig(schema, {
          DATABASE_URL: 'postgres://a:b@h/d',
          KAFKA_BROKERS: 'h:1',
          KAFKA_CONSUMERS: 'no',
        }),
      /KAFKA_CONSUMERS.*expected one of on, off/s,
    );
  });
});

void describe('KAFKA_CONSUMERS', () => {
  void it('off joins no consumer group: a message sent is consumed only by the pod with consumers on', async () => {
    const db = await scratchDatabase();
    cleanups.push(db.drop);
    const [topic] = await scratchTopics('canary');
    const groupId = `canary-test-${topic}`;
    const seen: string[] = [];
    const consumer = (who: string) => ({
      groupId,
      topics: [topic!],
      handle: () => {
        seen.push(who);
        return Promise.resolve('processed' as const);
      },
    });
    const canary = backend(
      { DATABASE_URL: db.url, KAFKA_CONSUMERS: 'off' },
      { consumers: [consumer('canary')] },
    );
    await canary.start();
    const admin = kafkaClient().admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    const members = async () => (await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0;
    assert.equal(await members(), 0, 'the canary is no member of the group');
    await canary.ctx.bus.send([{ topic: topic!, key: 'k', value: Buffer.from('{}'), headers: {} }]);

    const stable = backend({ DATABASE_URL: db.url }, { consumers: [consumer('stable')] });
    await stable.start();
    for (let i = 0; i < 150 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, ['stable']);
    assert.equal(await members(), 1);
  });
});

void describe('ROUTING_HEADERS', () => {
  void it('a gRPC server passes the routing headers of the call it serves on to the calls it makes', async () => {
    const metrics = createMetrics('routing-test');
    const seen: grpc.Metadata[] = [];
    const downstream = await startGrpcServer(
      {
        reflection: false,
        metrics,
        logger,
        services: [
          {
            name: 'test.Echo',
            definition: echoDefinition,
            implementation: {
              echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
                seen.push(call.metadata);
                cb(null, call.request);
              },
            },
          },
        ],
      },
      '127.0.0.1',
      0,
      'GRPC_PORT',
    );
    cleanups.push(() => downstream.stop(100));
    const client = createGrpcClient(EchoClient, `127.0.0.1:${downstream.port}`, {
      deadlineMs: 2000,
      metrics,
    });
    cleanups.push(() => Promise.resolve(client.close()));
    const middle = await startGrpcServer(
      {
        reflection: false,
        metrics,
        logger,
        services: [
          {
            name: 'test.Echo',
            definition: echoDefinition,
            implementation: {
              echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
                (
                  client.echo as unknown as (
                    r: Buffer,
                    m: grpc.Metadata,
                    cb: grpc.sendUnaryData<Buffer>,
                  ) => void
                )(call.request, new grpc.Metadata(), cb);
              },
            },
          },
        ],
      },
      '127.0.0.1',
      0,
      'GRPC_PORT',
    );
    cleanups.push(() => middle.stop(100));
    const outside = new EchoClient(`127.0.0.1:${middle.port}`, grpc.credentials.createInsecure());
    cleanups.push(() => Promise.resolve(outside.close()));
    const callMiddle = (md: grpc.Metadata) =>
      new Promise<void>((resolve, reject) =>
        (outside.echo as unknown as (r: Buffer, m: grpc.Metadata, cb: (e: Error | null) => void) => void)(
          Buffer.from('x'),
          md,
          (e) => (e ? reject(e) : resolve()),
        ),
      );
    const md = new grpc.Metadata();
    md.set('x-canary', 'true');
    md.set('x-not-routing', 'kept-here');
    await callMiddle(md);
    await callMiddle(new grpc.Metadata());
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0]!.get('x-canary'), ['true']);
    assert.deepEqual(seen[0]!.get('x-not-routing'), [], 'only the routing headers are passed on');
    assert.deepEqual(seen[1]!.get('x-canary'), [], 'no header, nothing passed on');
  });
});
