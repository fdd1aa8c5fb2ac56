// The services' ports as `npm start` runs them. Each service declares its default ports in its own configuration
// schema (services/<name>/src/config.ts); the launcher reads them from there, so a port changes in one place.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { root } from './paths';

/** In start order: inventory and payments before orders (which calls inventory), the gateway last. */
export const SERVICE_NAMES = ['inventory', 'payments', 'orders', 'gateway'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
export const DATA_SERVICES: ServiceName[] = ['orders', 'inventory', 'payments'];

export interface ServicePorts {
  name: ServiceName;
  /** 0: no gRPC server (the gateway is the REST edge). */
  grpcPort: number;
  httpPort: number;
  adminPort: number;
}

// The fault admin API of the incident labs is off unless ADMIN_PORT is set, so no service has a default for it: these
// are the launcher's own choice (labs attach to them with `npm run lab -- <id> --attach`).
const ADMIN_PORTS: Record<ServiceName, number> = {
  gateway: 9180,
  orders: 9181,
  inventory: 9182,
  payments: 9183,
};

interface ConfigField {
  parse(value: unknown): unknown;
}
interface ConfigModule {
  schema?: { shape?: Record<string, ConfigField | undefined> };
}

// The services are not dependencies of the launcher (`npm run infra` must work while a service does not compile):
// their compiled config modules are read at run time, after the launcher's own build of them.
const load = createRequire(__filename);

/** The default of one variable of a service's configuration schema (`undefined` when the schema has no such variable). */
function defaultOf(service: ServiceName, variable: string): number | undefined {
  const file = join(root, 'services', service, 'dist', 'src', 'config.js');
  const field = (load(file) as ConfigModule).schema?.shape?.[variable];
  if (!field) return undefined;
  const value = field.parse(undefined);
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new Error(`${file}: ${variable} has no default port (got ${String(value)})`);
  return value;
}

/** Every service's default ports, from its configuration. The services must be built. */
export function defaultPorts(): ServicePorts[] {
  return SERVICE_NAMES.map((name) => {
    const httpPort = defaultOf(name, 'HTTP_PORT');
    if (httpPort === undefined) throw new Error(`services/${name}: its configuration declares no HTTP_PORT`);
    return { name, grpcPort: defaultOf(name, 'GRPC_PORT') ?? 0, httpPort, adminPort: ADMIN_PORTS[name] };
  });
}

/** The services' ports, every one shifted by `offset` (`npm start -- --port-offset N`: a second platform beside). */
export function servicesAt(offset: number): ServicePorts[] {
  return defaultPorts().map((s) => ({
    ...s,
    grpcPort: s.grpcPort && s.grpcPort + offset,
    httpPort: s.httpPort + offset,
    adminPort: s.adminPort + offset,
  }));
}

/**
 * The local OpenID Connect issuer (tools/issuer) of `npm start`: 8090 (or ISSUER_PORT), shifted by the port offset
 * like the services. The labs' `--attach` and `npm run token` find it here.
 */
export const DEFAULT_ISSUER_PORT = 8090;
export const issuerPortAt = (offset: number, env: NodeJS.ProcessEnv = process.env) =>
  Number(env.ISSUER_PORT || DEFAULT_ISSUER_PORT) + offset;
export const issuerUrlAt = (offset: number, env: NodeJS.ProcessEnv = process.env) =>
  `http://127.0.0.1:${issuerPortAt(offset, env)}`;
