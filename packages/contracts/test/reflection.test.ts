import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { ServiceNames, loadReflectionPackageDefinition, protoDir, serviceProtoFiles } from '../src';

void test('protoDir is the repository proto/ and holds the service protos', () => {
  assert.ok(
    existsSync(join(protoDir, '..', 'packages', 'contracts', 'package.json')),
    `${protoDir} is not the repo's proto/`,
  );
  assert.ok(existsSync(join(protoDir, 'buf.yaml')), `${protoDir}/buf.yaml not found`);
  for (const file of serviceProtoFiles) assert.ok(existsSync(join(protoDir, file)), file);
});

void test('the reflection package definition holds every service, the health service and their messages', () => {
  const definition = loadReflectionPackageDefinition();
  for (const name of Object.values(ServiceNames)) assert.ok(name in definition, `${name} missing`);
  for (const name of [
    'orders.v1.Order',
    'inventory.v1.Product',
    'payments.v1.Payment',
    'google.protobuf.Timestamp',
  ]) {
    assert.ok(name in definition, `${name} missing`);
  }
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
  new ReflectionService(loadReflectionPackageDefinition()).addToServer(server);
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

void test('a reflection client lists every service', async () => {
  const response = await reflect({ list_services: '' });
  const names = (response.list_services_response?.service ?? []).map((service) => service.name).sort();
  assert.deepEqual(names, [...Object.values(ServiceNames)].sort());
});

void test('a reflection client gets the descriptor of OrderService', async () => {
  const response = await reflect({ file_containing_symbol: 'orders.v1.OrderService' });
  assert.equal(response.error_response, undefined, response.error_response?.error_message);
  const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
  // proto-loader names the synthesized files per package (orders_v1.proto), so look for the content instead.
  const orders = files.map((file) => file.toString('latin1')).find((text) => text.includes('OrderService'));
  assert.ok(orders !== undefined, 'no file descriptor declares OrderService');
  for (const method of ['PlaceOrder', 'GetOrder', 'ListOrders', 'CancelOrder', 'WatchOrder']) {
    assert.ok(orders.includes(method), `${method} missing from the OrderService descriptor`);
  }
});
