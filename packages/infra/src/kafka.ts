import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { dockerAnswers, importOptional } from './docker.js';
import type { InfraLock } from './lock.js';
import { pipeLines } from './postgres.js';
import { assertPortFree } from './ports.js';
import { tailFile, terminate, waitFor } from './proc.js';
import type { Logger, TopicSpec } from './types.js';

export const KAFKA_VERSION = '3.9.1';
const KAFKA_ARTIFACT = `org.apache.kafka:kafka_2.13:${KAFKA_VERSION}`;
const SLF4J_BINDING = 'org.slf4j:slf4j-reload4j:1.7.36';
const READY_TIMEOUT_MS = 60_000;
const MIN_JAVA = 17;

export interface RunningKafka {
  brokers: string;
  description: string;
  pid?: number;
  stop(): Promise<void>;
}

export interface KafkaStartOptions {
  stateDir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  lock: InfraLock;
  log: Logger;
}

/** Preference: KAFKA_BROKERS, then a local Java >= 17 running Kafka jars from Maven Central, then Docker. */
export async function startKafka(opts: KafkaStartOptions): Promise<RunningKafka> {
  const external = opts.env.KAFKA_BROKERS?.trim();
  if (external) {
    await waitForBroker(external, 15_000, () => false);
    return {
      brokers: external,
      description: `Kafka: existing broker(s) ${external} (KAFKA_BROKERS)`,
      stop: () => Promise.resolve(),
    };
  }
  const reasons: string[] = [];
  const java = findJava(opts.env);
  if (java.ok) {
    const libs = await kafkaJars(opts.env, opts.log);
    if (libs.ok) return startLocalKafka(opts, java.bin, java.version, libs.dir);
    reasons.push(libs.reason);
  } else {
    reasons.push(java.reason);
  }
  if (await dockerAnswers(opts.env)) return startDockerKafka(opts);
  reasons.push('no Docker daemon answers');
  throw new Error(
    `no Kafka broker available (${reasons.join('; ')}). Get one in any of three ways: ` +
      '(1) set KAFKA_BROKERS=host:port of a running broker; ' +
      `(2) install Java ${MIN_JAVA}+ and Maven (e.g. \`apt-get install -y openjdk-17-jre-headless maven\`) so the project runs Apache Kafka ${KAFKA_VERSION} itself; ` +
      '(3) start a Docker daemon (testcontainers runs a Kafka container).',
  );
}

type Found<T> = ({ ok: true } & T) | { ok: false; reason: string };

export function findJava(env: NodeJS.ProcessEnv): Found<{ bin: string; version: string }> {
  const bin = env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : 'java';
  const res = spawnSync(bin, ['-version'], { encoding: 'utf8', env, timeout: 10_000 });
  if (res.error || res.status !== 0) return { ok: false, reason: `no Java found (${bin} -version failed)` };
  const match = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(`${res.stderr}${res.stdout}`);
  if (!match) return { ok: false, reason: `cannot read the Java version from \`${bin} -version\`` };
  const first = Number(match[1]);
  const major = first === 1 ? Number(match[2]) : first;
  if (major < MIN_JAVA)
    return { ok: false, reason: `Java ${major} found, Kafka ${KAFKA_VERSION} here needs Java ${MIN_JAVA}+` };
  return { ok: true, bin, version: String(major) };
}

export function kafkaCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'cloud-native-shop', `kafka-${KAFKA_VERSION}`);
}

const COMPLETE_MARKER = '.complete';

/**
 * The broker's runtime classpath, resolved once by Maven (its default repository, i.e. Maven Central) into a cache
 * outside the repository. Resolved into a temporary sibling directory and renamed into place only when complete, so
 * an interrupted download is never mistaken for a complete one.
 */
export async function kafkaJars(env: NodeJS.ProcessEnv, log: Logger): Promise<Found<{ dir: string }>> {
  const dir = kafkaCacheDir(env);
  const libs = join(dir, 'libs');
  if (existsSync(join(dir, COMPLETE_MARKER))) return { ok: true, dir: libs };
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8', env, timeout: 30_000 });
  if (mvn.error || mvn.status !== 0) {
    return {
      ok: false,
      reason: `Java is there but Maven (mvn) is not, and the Kafka jars are not cached in ${dir}`,
    };
  }
  const parent = join(dir, '..');
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(join(parent, `kafka-${KAFKA_VERSION}.tmp-`));
  try {
    writeFileSync(join(tmp, 'pom.xml'), pom());
    log(
      'infra',
      `resolving Apache Kafka ${KAFKA_VERSION} jars with Maven into ${dir} (once; about 60 files, 46 MB, plus Maven's own plugins)`,
    );
    const output: string[] = [];
    const progress = new MavenProgress();
    const started = Date.now();
    let reported = 0;
    const report = (): void => {
      reported = progress.files;
      log(
        'infra',
        `  fetching Kafka jars: ${progress.files} files, ${(progress.bytes / 1e6).toFixed(1)} MB so far (${Math.round((Date.now() - started) / 1000)} s)`,
      );
    };
    // A line every 10 s, or every 20 files, whichever comes first: a slow mirror is visibly slow, not silent.
    const ticker = setInterval(report, 10_000);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        'mvn',
        [
          '-B',
          '-Dstyle.color=never',
          '-f',
          join(tmp, 'pom.xml'),
          'dependency:copy-dependencies',
          '-DincludeScope=runtime',
          `-DoutputDirectory=${join(tmp, 'libs')}`,
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
      pipeLines(child, (line) => {
        if (progress.add(line)) {
          if (progress.files - reported >= 20) report();
          return;
        }
        if (/^\[INFO\] (Downloading from|Copying) /.test(line)) return;
        output.push(line);
        if (output.length > 30) output.shift();
      });
      child.on('error', () => resolve(-1));
      child.on('close', (c) => {
        clearTimeout(timer);
        clearInterval(ticker);
        resolve(c);
      });
    });
    const jar = join(tmp, 'libs', `kafka_2.13-${KAFKA_VERSION}.jar`);
    if (code !== 0 || !existsSync(jar)) {
      return {
        ok: false,
        reason: `Maven could not resolve ${KAFKA_ARTIFACT} (exit ${code}): ${output.slice(-10).join(' | ')}`,
      };
    }
    writeFileSync(join(tmp, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
    try {
      renameSync(tmp, dir);
    } catch {
      // Another process completed the same download first: keep theirs; a directory without the marker is junk.
      if (!existsSync(join(dir, COMPLETE_MARKER))) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      }
    }
    log(
      'infra',
      `Kafka jars cached (${readdirSync(libs).length} files) in ${Math.round((Date.now() - started) / 1000)} s; Maven fetched ${progress.files} files, ${(progress.bytes / 1e6).toFixed(1)} MB`,
    );
    return { ok: true, dir: libs };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 };

/** Counts Maven's "Downloaded from <repo>: <url> (12 kB at 3.4 MB/s)" lines (batch mode prints one per file). */
export class MavenProgress {
  files = 0;
  bytes = 0;

  /** True when the line was a download line (counted). */
  add(line: string): boolean {
    const m = /^\[INFO\] Downloaded from [^:]+: \S+ \((\d+(?:\.\d+)?) (B|kB|KB|MB|GB)\b/.exec(line);
    if (!m) return false;
    this.files += 1;
    this.bytes += Number(m[1]) * (UNITS[m[2] ?? 'B'] ?? 1);
    return true;
  }
}

function pom(): string {
  const dep = (coords: string): string => {
    const [g, a, v] = coords.split(':');
    return `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  };
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.cloud-native-shop</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dep(KAFKA_ARTIFACT)}
${dep(SLF4J_BINDING)}
  </dependencies>
</project>
`;
}

function serverProperties(port: number, dataDir: string): string {
  const controller = port + 1;
  return [
    '# Written by @shop/infra on every start; edits are overwritten.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=3',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    // Topics are created explicitly by the project (docs/architecture.md); a typo must fail, not create a topic.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Kafka's default floor is 6 s; 1 s lets KAFKA_SESSION_TIMEOUT_MS be set short (the scenario-9 lab does).
    'group.min.session.timeout.ms=1000',
    'log.retention.hours=168',
    '',
  ].join('\n');
}

function log4jProperties(): string {
  return [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    'log4j.appender.file.File=${kafka.logs.dir}/server.log',
    'log4j.appender.file.MaxFileSize=20MB',
    'log4j.appender.file.MaxBackupIndex=2',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.org.apache.kafka.controller=WARN',
    '',
  ].join('\n');
}

async function startLocalKafka(
  opts: KafkaStartOptions,
  java: string,
  javaVersion: string,
  libs: string,
): Promise<RunningKafka> {
  const { stateDir, port, log, lock, env } = opts;
  const how = 'pass another kafkaPort to startInfra (the controller uses kafkaPort + 1)';
  await assertPortFree(port, 'Kafka', how);
  await assertPortFree(port + 1, 'Kafka controller', how);
  const kafkaDir = join(stateDir, 'kafka');
  const dataDir = join(kafkaDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const props = join(kafkaDir, 'server.properties');
  const log4j = join(kafkaDir, 'log4j.properties');
  writeFileSync(props, serverProperties(port, dataDir));
  writeFileSync(log4j, log4jProperties());
  const jvm = [
    '-Xms256m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${kafkaDir}`,
    `-Dlog4j.configuration=${pathToFileURL(log4j).href}`,
    '-cp',
    join(libs, '*'),
  ];

  if (!existsSync(join(dataDir, 'meta.properties'))) {
    // A KRaft cluster id is 16 random bytes in base64url; one starting with '-' would be read by the storage tool's
    // argument parser as an option (1 id in 64 failed with "--cluster-id: expected one argument").
    let clusterId = randomBytes(16).toString('base64url');
    while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
    log('infra', `formatting KRaft storage in ${dataDir} (cluster ${clusterId})`);
    const fmt = spawnSync(
      java,
      [...jvm, 'kafka.tools.StorageTool', 'format', '--ignore-formatted', '-t', clusterId, '-c', props],
      {
        encoding: 'utf8',
        env,
        timeout: 60_000,
      },
    );
    if (fmt.status !== 0)
      throw new Error(`kafka-storage format failed (exit ${fmt.status}): ${fmt.stderr || fmt.stdout}`);
  }

  const consoleLog = createWriteStream(join(kafkaDir, 'console.log'), { flags: 'a' });
  // Own process group (detached): Ctrl+C reaches the launcher only, which stops Kafka after the services. If the
  // launcher dies without stopping it, the next start kills it through the PID recorded in infra.lock.
  const child = spawn(java, [...jvm, `-Dshop.infra.state=${stateDir}`, 'kafka.Kafka', props], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${java}`);
  lock.record('kafka', pid);
  pipeLines(child, (line) => {
    consoleLog.write(`${line}\n`);
    log('kafka', line);
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    await terminate(pid, 'SIGTERM', 5000, true);
    await Promise.race([exitedPromise, new Promise((r) => setTimeout(r, 1000))]);
    consoleLog.end();
    lock.forget(pid);
  };
  const brokers = `127.0.0.1:${port}`;
  try {
    await waitForBroker(brokers, READY_TIMEOUT_MS, () => exited);
  } catch (err) {
    await stop();
    throw new Error(
      `${(err as Error).message}\n${tailFile(join(kafkaDir, 'server.log'), 15)}\n(see ${join(kafkaDir, 'server.log')})`,
      { cause: err },
    );
  }
  return {
    brokers,
    pid,
    description: `Kafka: Apache Kafka ${KAFKA_VERSION} (KRaft, broker+controller) via local Java ${javaVersion} on ${brokers}, controller ${port + 1}, pid ${pid}, heap 512 MiB, jars ${libs}, log ${join(kafkaDir, 'server.log')}`,
    stop,
  };
}

function quietKafka(brokers: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(',').map((b) => b.trim()),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    retry: { retries: 0 },
  });
}

/** Waits (bounded) until the broker answers a metadata request (describeCluster) with at least one broker. */
export async function waitForBroker(
  brokers: string,
  timeoutMs: number,
  gaveUp: () => boolean,
): Promise<void> {
  let lastError = '';
  const ok = await waitFor(
    async () => {
      if (gaveUp()) return true;
      const admin = quietKafka(brokers, 'shop-infra-probe').admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0 && cluster.controller !== null;
      } catch (err) {
        lastError = (err as Error).message;
        return false;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    timeoutMs,
    250,
  );
  if (gaveUp()) throw new Error(`the Kafka broker at ${brokers} exited during start-up`);
  if (!ok)
    throw new Error(
      `the Kafka broker at ${brokers} did not answer within ${timeoutMs / 1000} s${lastError ? ` (${lastError})` : ''}`,
    );
}

/**
 * Creates the missing topics and raises the partition count of existing ones that have fewer than asked
 * (idempotent; partitions are never reduced, Kafka cannot).
 */
export async function ensureTopics(brokers: string, topics: TopicSpec[]): Promise<void> {
  for (const t of topics) {
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(t.name)) throw new Error(`invalid topic name "${t.name}"`);
    if (!Number.isInteger(t.partitions) || t.partitions < 1)
      throw new Error(`topic ${t.name}: partitions must be a positive integer`);
  }
  const admin = new Kafka({
    clientId: 'shop-infra',
    brokers: brokers.split(',').map((b) => b.trim()),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions, replicationFactor: 1 })),
      });
    }
    const present = topics.filter((t) => existing.has(t.name));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) });
      const grow = present.filter(
        (t) => (meta.topics.find((m) => m.name === t.name)?.partitions.length ?? 0) < t.partitions,
      );
      if (grow.length > 0)
        await admin.createPartitions({
          topicPartitions: grow.map((t) => ({ topic: t.name, count: t.partitions })),
        });
    }
  } finally {
    await admin.disconnect();
  }
}

interface KafkaContainerModule {
  KafkaContainer: new (image: string) => KafkaContainerBuilder;
}
interface KafkaContainerBuilder {
  withKraft(): KafkaContainerBuilder;
  withEnvironment(env: Record<string, string>): KafkaContainerBuilder;
  start(): Promise<{ getHost(): string; getMappedPort(port: number): number; stop(): Promise<unknown> }>;
}

/** Docker fallback: Confluent's image of Kafka 3.9 in KRaft mode, auto-creation off, on a port Docker picks. */
async function startDockerKafka(opts: KafkaStartOptions): Promise<RunningKafka> {
  const mod = await importOptional<KafkaContainerModule>('@testcontainers/kafka');
  if (!mod)
    throw new Error(
      'Docker answers but the optional dependency @testcontainers/kafka is not installed (npm install)',
    );
  opts.log('infra', 'starting Kafka in Docker (testcontainers)');
  const image = 'confluentinc/cp-kafka:7.9.0';
  const container = await new mod.KafkaContainer(image)
    .withKraft()
    .withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false' })
    .start();
  const brokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
  await waitForBroker(brokers, READY_TIMEOUT_MS, () => false);
  return {
    brokers,
    description: `Kafka: Docker container ${image} (KRaft) at ${brokers} (testcontainers; data not kept)`,
    stop: async () => {
      await container.stop();
    },
  };
}
