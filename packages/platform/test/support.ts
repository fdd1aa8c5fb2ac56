import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { testInfra } from '@shop/testkit';
import { grpc } from '../src';

/** A scratch database on the test PostgreSQL, dropped by `drop()`. */
export async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const infra = testInfra();
  const name = `platform_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: infra.adminDatabaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(infra.adminDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: infra.adminDatabaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function kafkaClient(): Kafka {
  return new Kafka({
    clientId: 'platform-test',
    brokers: testInfra().kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
  });
}

/** Creates uniquely named topics (and their dead-letter topics) for one test. */
export async function scratchTopics(...names: string[]): Promise<string[]> {
  const suffix = randomUUID().slice(0, 8);
  const topics = names.map((n) => `platform-test.${n}.${suffix}`);
  const admin = kafkaClient().admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: topics.flatMap((t) => [t, `${t}.dlt`]).map((topic) => ({ topic, numPartitions: 1 })),
  });
  await admin.disconnect();
  return topics;
}

/** A raw-bytes unary service `test.Echo/Echo` (no descriptor in @shop/contracts: serve it with reflection off). */
export const echoDefinition = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
} as grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoDefinition, 'Echo') as unknown as new (
  a: string,
  c: grpc.ChannelCredentials,
  o?: grpc.ClientOptions,
) => grpc.Client & { echo: (...args: never[]) => grpc.ClientUnaryCall };
