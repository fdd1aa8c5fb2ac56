// The one-time fetch of the Kafka broker's jars, against a recording `mvn` that answers like Maven 3 in batch mode
// (no network, no JVM): progress is reported while it runs, and the result is cached.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAFKA_VERSION, kafkaCacheDir } from '../src/index.js';
import { kafkaJars, MavenProgress } from '../src/kafka.js';

const dir = mkdtempSync(join(tmpdir(), 'shop-mvn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// 45 downloads of 1.0 MB, with the lines Maven prints around them, then the jars copied into -DoutputDirectory.
const STUB = `#!/bin/sh
echo "$@" >> "${dir}/mvn-calls"
[ "$1" = "-v" ] && { echo "Apache Maven 3.8.7"; exit 0; }
out=""
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; esac; done
echo "[INFO] Scanning for projects..."
i=0
while [ $i -lt 45 ]; do
  echo "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/x/a$i.jar"
  echo "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/x/a$i.jar (1.0 MB at 9.1 MB/s)"
  i=$((i+1))
done
mkdir -p "$out" && touch "$out/kafka_2.13-${KAFKA_VERSION}.jar" "$out/kafka-clients-${KAFKA_VERSION}.jar"
echo "[INFO] BUILD SUCCESS"
`;

void describe('Kafka jars (Maven)', () => {
  void it('reports progress while Maven fetches, and the totals at the end', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const mvn = join(bin, 'mvn');
    writeFileSync(mvn, STUB);
    chmodSync(mvn, 0o755);
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      XDG_CACHE_HOME: join(dir, 'cache'),
    };
    const lines: string[] = [];
    const result = await kafkaJars(env, (_source, line) => lines.push(line));
    assert.ok(result.ok, result.ok ? '' : result.reason);
    const text = lines.join('\n');
    assert.match(text, /resolving Apache Kafka .* \(once; about 60 files, 46 MB/);
    assert.match(text, /fetching Kafka jars: 20 files, 20\.0 MB so far/);
    assert.match(text, /fetching Kafka jars: 40 files, 40\.0 MB so far/);
    assert.match(text, /Kafka jars cached \(2 files\) in \d+ s; Maven fetched 45 files, 45\.0 MB/);
    assert.ok(existsSync(join(kafkaCacheDir(env), '.complete')));
    const calls = readFileSync(join(dir, 'mvn-calls'), 'utf8');
    assert.doesNotMatch(
      calls,
      /(^| )-q( |$)/m,
      'Maven is not run quietly: its download lines are the progress',
    );

    // Cached: Maven is not run again.
    const again = await kafkaJars(env, () => undefined);
    assert.ok(again.ok);
    assert.equal(readFileSync(join(dir, 'mvn-calls'), 'utf8'), calls);
  });

  void it('counts download lines in kB, MB and B', () => {
    const p = new MavenProgress();
    assert.equal(p.add('[INFO] Downloaded from central: https://r/x.pom (2.5 kB at 40 kB/s)'), true);
    assert.equal(p.add('[INFO] Downloaded from central: https://r/x.jar (1.5 MB at 4 MB/s)'), true);
    assert.equal(p.add('[INFO] Downloaded from central: https://r/x.sha1 (40 B at 1 kB/s)'), true);
    assert.equal(p.add('[INFO] Downloading from central: https://r/y.jar'), false);
    assert.equal(p.files, 3);
    assert.equal(p.bytes, 2500 + 1_500_000 + 40);
  });
});
