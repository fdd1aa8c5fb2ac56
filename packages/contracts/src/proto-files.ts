// Access to the .proto sources at runtime, for server reflection. The files are not copied into the package: they
// are read from the repository's proto/ (one source of truth; a container image must ship proto/ beside packages/).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

/** Absolute path of the repository's proto/ (this file runs from packages/contracts/dist/src/). */
export const protoDir: string = resolve(__dirname, '..', '..', '..', '..', 'proto');

/** The gRPC service definitions, relative to protoDir. */
export const serviceProtoFiles = [
  'orders/v1/orders.proto',
  'inventory/v1/inventory.proto',
  'payments/v1/payments.proto',
] as const;

/** Fully qualified names of the platform's gRPC services and of the standard health service. */
export const ServiceNames = {
  orders: 'orders.v1.OrderService',
  inventory: 'inventory.v1.InventoryService',
  payments: 'payments.v1.PaymentService',
  health: 'grpc.health.v1.Health',
} as const;

/** Directory holding `health/v1/health.proto` as shipped by the grpc-health-check package. */
export function healthProtoDir(): string {
  return join(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
}

/**
 * A proto-loader package definition of every service (ours and grpc.health.v1), to give to
 * `new ReflectionService(packageDefinition)` from @grpc/reflection so that grpcurl-style tools can list and describe
 * them.
 */
export function loadReflectionPackageDefinition(): PackageDefinition {
  const missing = serviceProtoFiles.filter((file) => !existsSync(join(protoDir, file)));
  if (missing.length > 0) {
    throw new Error(`proto files not found under ${protoDir}: ${missing.join(', ')}`);
  }
  return loadSync([...serviceProtoFiles, 'health/v1/health.proto'], {
    includeDirs: [protoDir, healthProtoDir()],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}
