/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML. */
// The chart's Kafka start-up run for real: the rendered start.sh and server.properties of the kafka-config ConfigMap
// drive Apache Kafka (the version and jars `npm run infra` caches, on the local Java) with a data "volume" whose root holds
// lost+found, as an ext4 volume does. Only the container paths (/opt/kafka, /config, /tmp, the volume) and the three
// ports are mapped to this machine. The advertised Service name does not resolve here, so the topics can only be
// created through the loopback listener, as in a meshed pod where the Service address is denied.
// About 30-60 s (a broker and a few JVMs for the topic commands).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findJava, kafkaCacheDir, KAFKA_VERSION } from '@shop/infra';
import { objectsOf, render } from './support';

const PORTS: Record<string, number> = { '9092': 57161, '9093': 57162, '9094': 57163 };

function kafkaLibs(): string {
  // The Kafka that `npm run infra` (and `npm test`, before any package's tests) resolves and caches.
  const libs = join(kafkaCacheDir(process.env), 'libs');
  assert.ok(
    existsSync(join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`)),
    `Kafka ${KAFKA_VERSION} jars missing in ${libs}: run \`npm run infra\` once (it resolves them from Maven Central)`,
  );
  return libs;
}

function java(): string {
  const j = findJava(process.env);
  if (!j.ok) assert.fail(`Java 17+ is needed (apt-get install -y openjdk-17-jre-headless): ${j.reason}`);
  return j.bin;
}

// kafka-topics.sh's two uses in start.sh (--list; --create --if-not-exists), on Kafka's own Admin client.
const TOPICS_JAVA = `
import java.util.*;
import org.apache.kafka.clients.admin.*;
public class Topics {
  public static void main(String[] a) throws Exception {
    String bootstrap = null, topic = null; int partitions = 1; short rf = 1; boolean list = false, create = false;
    for (int i = 0; i < a.length; i++) {
      switch (a[i]) {
        case "--bootstrap-server": bootstrap = a[++i]; break;
        case "--topic": topic = a[++i]; break;
        case "--partitions": partitions = Integer.parseInt(a[++i]); break;
        case "--replication-factor": rf = Short.parseShort(a[++i]); break;
        case "--list": list = true; break;
        case "--create": create = true; break;
        case "--if-not-exists": break;
        default: System.err.println("unknown argument " + a[i]); System.exit(2);
      }
    }
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    // --list is the readiness poll (fail fast); --create waits for the broker to be unfenced, as kafka-topics.sh does.
    // TOPICS_TIMEOUT_MS (the test's own check after Ready) waits longer on a loaded machine.
    String wait = System.getenv().getOrDefault("TOPICS_TIMEOUT_MS", list ? "5000" : "60000");
    p.put("request.timeout.ms", list && wait.equals("5000") ? "3000" : "10000");
    p.put("default.api.timeout.ms", wait);
    try (Admin admin = Admin.create(p)) {
      Set<String> names = admin.listTopics().names().get();
      if (list) { for (String n : new TreeSet<>(names)) System.out.println(n); return; }
      if (create && !names.contains(topic)) admin.createTopics(List.of(new NewTopic(topic, partitions, rf))).all().get();
    }
  }
}
`;

void describe('the rendered Kafka start-up, run', () => {
  void it('formats a subdirectory of a volume holding lost+found, creates the topics over loopback, turns Ready', async () => {
    const libs = kafkaLibs();
    const javaBin = java();
    const topics = ['orders.events.v1'];
    const objects = render({ kafka: { topics, partitions: 2, heap: '256m' } });
    const cm = objectsOf<any>(objects, 'ConfigMap').find((o) => o.metadata.name === 'kafka-config');
    assert.ok(cm);
    await assert.rejects(lookup('kafka.shop.svc.cluster.local'), 'the Service name must not resolve here');

    const root = mkdtempSync(join(tmpdir(), 'shop-kafka-chart-'));
    const volume = join(root, 'volume');
    mkdirSync(join(volume, 'lost+found'), { recursive: true });
    const bin = join(root, 'opt', 'bin');
    mkdirSync(bin, { recursive: true });
    mkdirSync(join(root, 'config'));
    mkdirSync(join(root, 'tmp'));
    // One pass, so that a mapped path (under the machine's /tmp) is never mapped again.
    const paths: Record<string, string> = {
      '/var/lib/kafka/data': volume,
      '/opt/kafka/bin': bin,
      '/config/': `${join(root, 'config')}/`,
      '/tmp/': `${join(root, 'tmp')}/`,
    };
    const map = (text: string): string =>
      text
        .replace(/\/var\/lib\/kafka\/data|\/opt\/kafka\/bin|\/config\/|\/tmp\//g, (m) => paths[m]!)
        .replace(/:(9092|9093|9094)\b/g, (_m, p: string) => `:${PORTS[p]}`);
    writeFileSync(join(root, 'config', 'server.properties'), map(cm.data['server.properties']));
    writeFileSync(join(root, 'start.sh'), map(cm.data['start.sh']));
    writeFileSync(join(root, 'Topics.java'), TOPICS_JAVA);
    const shim = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    const cp = `"${libs}/*"`;
    shim('kafka-storage.sh', `exec "${javaBin}" -Xmx256m -cp ${cp} kafka.tools.StorageTool "$@"`);
    shim(
      'kafka-server-start.sh',
      `exec "${javaBin}" $KAFKA_HEAP_OPTS -Dkafka.logs.dir="${join(root, 'tmp')}" -cp ${cp} kafka.Kafka "$@"`,
    );
    shim('kafka-topics.sh', `exec "${javaBin}" -Xmx128m -cp ${cp} "${join(root, 'Topics.java')}" "$@"`);

    const env = {
      ...process.env,
      KAFKA_CLUSTER_ID: '5L6g3nShT-eMCtK--X86sw',
      KAFKA_HEAP_OPTS: '-Xms256m -Xmx256m',
    };
    // Its own process group: the broker and any topic command go with it, whatever happens to the test.
    const child = spawn('bash', [join(root, 'start.sh')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // already gone
      }
    };
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
    let exited: number | null | undefined;
    const done = new Promise<void>((resolve) =>
      child.on('exit', (code) => {
        exited = code;
        resolve();
      }),
    );
    try {
      const ready = join(root, 'tmp', 'topics-ready');
      const deadline = Date.now() + 240_000;
      while (!existsSync(ready) && exited === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 500));
      assert.ok(existsSync(ready), `start.sh did not turn Ready (exit ${exited}):\n${output.slice(-4000)}`);
      const list = spawnSync(
        javaBin,
        [
          '-cp',
          `${libs}/*`,
          join(root, 'Topics.java'),
          '--bootstrap-server',
          `127.0.0.1:${PORTS['9094']}`,
          '--list',
        ],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TOPICS_TIMEOUT_MS: '90000' } },
      );
      assert.equal(list.status, 0, list.stderr);
      assert.deepEqual(list.stdout.trim().split('\n').sort(), ['orders.events.v1', 'orders.events.v1.dlt']);
      // The broker's data is in the subdirectory; lost+found stayed where the volume put it.
      const logDir = join(volume, 'kraft-logs');
      assert.ok(readdirSync(logDir).includes('meta.properties'), readdirSync(logDir).join(', '));
      assert.ok(readdirSync(logDir).some((d) => d.startsWith('orders.events.v1-')));
      assert.deepEqual(readdirSync(volume).sort(), ['kraft-logs', 'lost+found']);
    } finally {
      if (exited === undefined) signal('SIGTERM');
      const stop = setTimeout(() => signal('SIGKILL'), 30_000);
      await done;
      clearTimeout(stop);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
