export * from './config';
export * from './logger';
export * from './retry';
export * from './db';
export * from './kafka';
export * from './messaging';
export * from './unit-of-work';
export * from './metrics';
export * from './grpc';
export * from './grpc-handlers';
export * from './discovery';
export * from './resilience';
export * from './http';
export * from './lifecycle';

import { join } from 'node:path';
/** The platform's own migrations (outbox, processed messages), applied before each service's migrations. */
export const platformMigrationsDir = join(__dirname, '..', '..', 'migrations');
export * from './runtime';
export * from './tracing';
export * from './faults';
export * from './admin';
export * from './tls';
export * from './cgroup';
export * from './auth';
