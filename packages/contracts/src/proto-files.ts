// What gRPC server reflection serves: the file descriptors compiled by buf from proto/ at `npm run generate`
// (src/gen/descriptor-set.ts), plus the location of the .proto sources for tools and tests.
import { resolve } from 'node:path';
import type { MessageTypeDefinition, PackageDefinition } from '@grpc/proto-loader';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { fileDescriptorSetBase64 } from './gen/descriptor-set';

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

/** What a server implements beside its own services: health and reflection (both versions grpcurl tries). */
export const StandardServiceNames = [
  ServiceNames.health,
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
] as const;

interface FileInfo {
  name: string;
  dependencies: string[];
  services: string[];
  bytes: Uint8Array;
}

// FileDescriptorProto: name = 1, package = 2, dependency = 3, service = 6 (ServiceDescriptorProto: name = 1).
function fileInfo(bytes: Uint8Array): FileInfo {
  const reader = new BinaryReader(bytes);
  let name = '';
  let pkg = '';
  const dependencies: string[] = [];
  const serviceNames: string[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) name = reader.string();
    else if (field === 2 && wireType === WireType.LengthDelimited) pkg = reader.string();
    else if (field === 3 && wireType === WireType.LengthDelimited) dependencies.push(reader.string());
    else if (field === 6 && wireType === WireType.LengthDelimited) {
      const service = new BinaryReader(reader.bytes());
      while (service.pos < service.len) {
        const [f, w] = service.tag();
        if (f === 1 && w === WireType.LengthDelimited) serviceNames.push(service.string());
        else service.skip(w);
      }
    } else reader.skip(wireType);
  }
  return { name, dependencies, services: serviceNames.map((s) => (pkg ? `${pkg}.${s}` : s)), bytes };
}

let descriptorFiles: Map<string, FileInfo> | undefined;

/** Every file of the generated descriptor set, by file name. */
function allFiles(): Map<string, FileInfo> {
  if (!descriptorFiles) {
    descriptorFiles = new Map();
    // FileDescriptorSet: repeated FileDescriptorProto file = 1.
    const reader = new BinaryReader(Buffer.from(fileDescriptorSetBase64, 'base64'));
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 1 || wireType !== WireType.LengthDelimited) throw new Error('not a FileDescriptorSet');
      const info = fileInfo(reader.bytes());
      descriptorFiles.set(info.name, info);
    }
  }
  return descriptorFiles;
}

/**
 * What `new ReflectionService(definition, { services })` from @grpc/reflection needs for a server implementing
 * `services` (plus health and reflection): the protoc-exact descriptors of the files declaring them and of
 * everything they import, transitively, and nothing else (so another service's types are not offered either).
 * @grpc/reflection only reads `fileDescriptorProtos` of the definition's entries; one entry carries them all.
 */
export function reflectionPackageDefinition(services: readonly string[]): PackageDefinition {
  const files = allFiles();
  const wanted = new Set([...services, ...StandardServiceNames]);
  const roots = [...files.values()].filter((file) => file.services.some((s) => wanted.has(s)));
  const declared = new Set(roots.flatMap((file) => file.services));
  const unknown = [...wanted].filter((name) => !declared.has(name));
  if (unknown.length > 0) throw new Error(`no descriptor declares ${unknown.join(', ')}`);
  const included = new Map<string, FileInfo>();
  const visit = (file: FileInfo) => {
    if (included.has(file.name)) return;
    included.set(file.name, file);
    for (const dependency of file.dependencies) {
      const found = files.get(dependency);
      if (!found) throw new Error(`descriptor ${file.name} imports ${dependency}, which is not in the set`);
      visit(found);
    }
  };
  roots.forEach(visit);
  const message: MessageTypeDefinition<object, object> = {
    format: 'Protocol Buffer 3 DescriptorProto',
    type: {},
    fileDescriptorProtos: [...included.values()].map((file) => Buffer.from(file.bytes)),
    serialize: () => {
      throw new Error('descriptor carrier, not a message');
    },
    deserialize: () => {
      throw new Error('descriptor carrier, not a message');
    },
  };
  return { 'shop.reflection.files': message };
}
