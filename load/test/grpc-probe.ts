import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

// What grpc_health_probe and grpcurl do, from outside the services.

/** grpc.health.v1.Health/Check for `service` ('' = the server as a whole): the status name. */
export function grpcHealth(address: string, service: string): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  // HealthCheckRequest { string service = 1; } and HealthCheckResponse { ServingStatus status = 1; }.
  const encoded = Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(service)]), Buffer.from(service)]);
  const names = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
  return new Promise<string>((resolve, reject) =>
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      service ? encoded : Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, value) => {
        client.close();
        if (err || !value) return reject(err ?? new Error('empty health response'));
        resolve(value.length >= 2 && value[0] === 0x08 ? (names[value[1] ?? 0] ?? 'UNKNOWN') : 'UNKNOWN');
      },
    ),
  );
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
}

/** The service names a server lists over the gRPC server reflection protocol (v1). */
export function reflectionServices(address: string): Promise<string[]> {
  const proto = join(
    dirname(require.resolve('@grpc/reflection/package.json')),
    'build',
    'proto',
    'grpc',
    'reflection',
    'v1',
    'reflection.proto',
  );
  const loaded = grpc.loadPackageDefinition(loadSync(proto, { keepCase: true }));
  const reflection = ((loaded.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Client = reflection.ServerReflection as grpc.ServiceClientConstructor;
  const client = new Client(address, grpc.credentials.createInsecure());
  const open = (
    client as unknown as Record<
      string,
      (o: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, ReflectionResponse>
    >
  ).ServerReflectionInfo;
  if (!open) throw new Error('no ServerReflectionInfo method');
  return new Promise((resolve, reject) => {
    const call = open.call(client, { deadline: Date.now() + 5000 });
    call.on('data', (r: ReflectionResponse) => {
      resolve((r.list_services_response?.service ?? []).map((s) => s.name));
      call.end();
    });
    call.on('error', reject);
    call.on('end', () => client.close());
    call.write({ list_services: '' });
  });
}
