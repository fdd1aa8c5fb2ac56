import { authConfig, clientConfig, commonConfig, env, z } from '@shop/platform';

/** The gateway's environment (docs/architecture.md): no database and no Kafka, three gRPC upstreams. */
export const schema = z.object({
  ...commonConfig(8080),
  HTTP_PORT: env.port(8080, 'HTTP port of the REST API, the probes (/livez, /readyz) and /metrics'),
  ORDERS_ADDR: env.address('127.0.0.1:50051', 'gRPC address (host:port) of the orders service'),
  INVENTORY_ADDR: env.address('127.0.0.1:50052', 'gRPC address (host:port) of the inventory service'),
  PAYMENTS_ADDR: env.address('127.0.0.1:50053', 'gRPC address (host:port) of the payments service'),
  ...clientConfig(),
  ...authConfig(),
});

export type Config = z.infer<typeof schema>;
