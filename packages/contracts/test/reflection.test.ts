import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  ServiceNames,
  StandardServiceNames,
  protoDir,
  reflectionPackageDefinition,
  serviceProtoFiles,
} from '../src';

void test('protoDir is the repository proto/ and holds the service protos', () => {
  assert.ok(
    existsSync(join(protoDir, '..', 'packages', 'contracts', 'package.json')),
    `${protoDir} is not the repo's proto/`,
  );
  assert.ok(existsSync(join(protoDir, 'buf.yaml')), `${protoDir}/buf.yaml not found`);
  for (const file of serviceProtoFiles) assert.ok(existsSync(join(protoDir, file)), file);
});

void test('the reflection definition of one service holds its file, its imports and the standard files only', () => {
  const definition = reflectionPackageDefinition([ServiceNames.orders]);
  const files = Object.values(definition).flatMap((entry) =>
    'fileDescriptorProtos' in entry ? (entry.fileDescriptorProtos as Buffer[]) : [],
  );
  const texts = files.map((file) => file.toString('latin1'));
  const named = (name: string) => texts.some((text) => text.includes(name));
  for (const name of [
    'orders/v1/orders.proto',
    'google/protobuf/timestamp.proto',
    'health/v1/health.proto',
    'grpc/reflection/v1/reflection.proto',
  ])
    assert.ok(named(name), `${name} missing`);
  assert.ok(!named('inventory/v1/inventory.proto'), 'inventory.proto is not served by orders');
  assert.ok(!named('payments/v1/payments.proto'), 'payments.proto is not served by orders');
  assert.throws(() => reflectionPackageDefinition(['nope.v1.Nope']), /no descriptor declares nope\.v1\.Nope/);
});

// What grpcurl does: list services and fetch the descriptor of one, over the reflection protocol.
interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_message: string };
}

let server: grpc.Server;
let address: string;

before(async () => {
  server = new grpc.Server();
  const services = [ServiceNames.orders];
  new ReflectionService(reflectionPackageDefinition(services), {
    services: [...services, ...StandardServiceNames],
  }).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  );
  address = `127.0.0.1:${port}`;
});

after(() => server.forceShutdown());

function reflect(request: Record<string, unknown>): Promise<ReflectionResponse> {
  const reflectionProto = join(
    dirname(require.resolve('@grpc/reflection/package.json')),
    'build',
    'proto',
    'grpc',
    'reflection',
    'v1',
    'reflection.proto',
  );
  const loaded = grpc.loadPackageDefinition(loadSync(reflectionProto, { keepCase: true }));
  const reflectionPackage = (loaded.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
  const Client = (reflectionPackage.v1 as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
  const client = new Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as Record<
        string,
        (options: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, ReflectionResponse>
      >
    ).ServerReflectionInfo!({ deadline: Date.now() + 5_000 });
    call.on('data', (response: ReflectionResponse) => {
      resolve(response);
      call.end();
    });
    call.on('error', reject);
    call.on('end', () => client.close());
    call.write(request);
  });
}

void test("a reflection client lists the server's own service, health and reflection only", async () => {
  const response = await reflect({ list_services: '' });
  const names = (response.list_services_response?.service ?? []).map((service) => service.name).sort();
  assert.deepEqual(names, [ServiceNames.orders, ...StandardServiceNames].sort());
});

void test('a reflection client gets the descriptor of OrderService', async () => {
  const response = await reflect({ file_containing_symbol: 'orders.v1.OrderService' });
  assert.equal(response.error_response, undefined, response.error_response?.error_message);
  const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
  const texts = files.map((file) => file.toString('latin1'));
  const orders = texts.find(
    (text) => text.includes('orders/v1/orders.proto') && text.includes('OrderService'),
  );
  assert.ok(orders !== undefined, 'no file descriptor declares OrderService');
  for (const method of ['PlaceOrder', 'GetOrder', 'ListOrders', 'CancelOrder', 'WatchOrder']) {
    assert.ok(orders.includes(method), `${method} missing from the OrderService descriptor`);
  }
  // Its import comes along: a client can resolve google.protobuf.Timestamp.
  assert.ok(
    texts.some((text) => text.startsWith('\n\x1fgoogle/protobuf/timestamp.proto')),
    'google/protobuf/timestamp.proto is served with OrderService',
  );
});
