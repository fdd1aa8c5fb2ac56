import { randomUUID } from 'node:crypto';
import type { Envelope } from '@shop/contracts';
import { Topics, encodeEnvelope, inventoryV1, newEnvelope } from '@shop/contracts';
import { grpc, loadConfig } from '@shop/platform';
import { serviceEnv, testInfra } from '@shop/testkit';
import type { Producer } from 'kafkajs';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { RunningService } from '../src/service';
import { createService, schema } from '../src/service';

export const infra = testInfra();

export function bootService(): RunningService {
  return createService(
    loadConfig(schema, serviceEnv('inventory', infra, { LOG_LEVEL: 'fatal', SHUTDOWN_TIMEOUT_MS: '5000' })),
  );
}

export const kafka = new Kafka({
  clientId: `inventory-test-${randomUUID().slice(0, 8)}`,
  brokers: infra.kafkaBrokers.split(','),
  logLevel: logLevel.NOTHING,
});

let producer: Producer | undefined;
export async function sendRaw(records: { key: string; value: Buffer | string }[]): Promise<void> {
  if (!producer) {
    producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
  }
  await producer.send({ topic: Topics.inventoryCommands, acks: -1, messages: records });
}

export async function sendCommands(envelopes: Envelope[]): Promise<void> {
  await sendRaw(envelopes.map((e) => ({ key: e.orderId, value: encodeEnvelope(e) })));
}

export const reserve = (orderId: string, items: { sku: string; quantity: number }[]) =>
  newEnvelope({ $case: 'reserveStock', value: { orderId, items } });
export const release = (orderId: string) =>
  newEnvelope({ $case: 'releaseStock', value: { orderId, reason: 1 } });
export const commit = (orderId: string) => newEnvelope({ $case: 'commitStock', value: { orderId } });

export async function closeProducer(): Promise<void> {
  await producer?.disconnect();
  producer = undefined;
}

export type Client = inventoryV1.InventoryServiceClient;
export const grpcClient = (port: number): Client =>
  new inventoryV1.InventoryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

/** Promise form of a unary call with a 5 s deadline. */
export function call<Req, Res>(
  method: (
    req: Req,
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: (err: grpc.ServiceError | null, res: Res) => void,
  ) => grpc.ClientUnaryCall,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(req, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}
