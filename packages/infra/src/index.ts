export { startInfra } from './infra.js';
export { ensureTopics, findJava, kafkaCacheDir, KAFKA_VERSION } from './kafka.js';
export { AlreadyRunningError, readLock, lockPath } from './lock.js';
export { credentialsPath } from './credentials.js';
export { stopLeftovers } from './leftovers.js';
export type { Infra, InfraOptions, LogSource, TopicSpec } from './types.js';
export { startZipkin, zipkinCacheDir, zipkinJar, ZIPKIN_DEFAULT_PORT, ZIPKIN_VERSION } from './zipkin.js';
export type { RunningZipkin, ZipkinStartOptions } from './zipkin.js';
