import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  BAD_REQUEST_TYPE_URL,
  STATUS_DETAILS_METADATA_KEY,
  decodeBadRequest,
  encodeBadRequest,
  googleRpc,
  inventoryV1,
} from '../src';

const violations = [
  { field: 'items[0].quantity', description: 'must be an integer from 1 to 1000' },
  { field: 'customer_id', description: 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -' },
];

void test('encodeBadRequest produces a google.rpc.Status with code 3 and one BadRequest detail', () => {
  const status = googleRpc.Status.decode(encodeBadRequest(violations, 'invalid order'));
  assert.equal(status.code, 3);
  assert.equal(status.message, 'invalid order');
  assert.equal(status.details.length, 1);
  assert.equal(status.details[0]?.typeUrl, 'type.googleapis.com/google.rpc.BadRequest');
  assert.deepEqual(
    googleRpc.BadRequest.decode(status.details[0]?.value ?? Buffer.alloc(0)).fieldViolations,
    violations,
  );
});

void test('decodeBadRequest round-trips and ignores details of other types', () => {
  assert.deepEqual(decodeBadRequest(encodeBadRequest(violations, 'x')), violations);
  assert.deepEqual(decodeBadRequest(encodeBadRequest([], 'x')), []);
  const mixed = googleRpc.Status.encode({
    code: 3,
    message: 'mixed',
    details: [
      { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from([0x0a, 0x01, 0x41]) },
      {
        typeUrl: BAD_REQUEST_TYPE_URL,
        value: Buffer.from(googleRpc.BadRequest.encode({ fieldViolations: violations }).finish()),
      },
    ],
  }).finish();
  assert.deepEqual(decodeBadRequest(mixed), violations);
});

// The trailer must survive a real grpc-js round trip, since that is how every service returns INVALID_ARGUMENT.
let server: grpc.Server;
let client: inventoryV1.InventoryServiceClient;

before(async () => {
  server = new grpc.Server();
  const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>) =>
    callback({ code: grpc.status.UNIMPLEMENTED });
  server.addService(inventoryV1.InventoryServiceService, {
    listProducts: unimplemented,
    quoteItems: unimplemented,
    listStockLevels: unimplemented,
    getProduct: (call, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set(
        STATUS_DETAILS_METADATA_KEY,
        encodeBadRequest([{ field: 'sku', description: `unknown sku "${call.request.sku}"` }], 'invalid sku'),
      );
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'invalid sku', metadata });
    },
  } satisfies inventoryV1.InventoryServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  );
  client = new inventoryV1.InventoryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

after(() => {
  client.close();
  server.forceShutdown();
});

void test('field violations travel in grpc-status-details-bin through grpc-js', async () => {
  const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
    client.getProduct({ sku: 'NOPE' }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err) =>
      err ? resolve(err) : reject(new Error('expected an error')),
    ),
  );
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(error.details, 'invalid sku');
  const [details] = error.metadata.get(STATUS_DETAILS_METADATA_KEY);
  assert.ok(Buffer.isBuffer(details), 'grpc-status-details-bin missing from the trailers');
  assert.deepEqual(decodeBadRequest(details), [{ field: 'sku', description: 'unknown sku "NOPE"' }]);
});
