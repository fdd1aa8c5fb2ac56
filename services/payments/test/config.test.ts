import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '@shop/platform';
import { schema } from '../src/config';

const required = {
  DATABASE_URL: 'postgres://payments:secret@127.0.0.1:5432/payments',
  KAFKA_BROKERS: '127.0.0.1:9092',
  OIDC_ISSUER: 'http://127.0.0.1:8090',
};

test('defaults: ports 50053/9103 and a credit limit of 1,000.00', () => {
  const config = loadConfig(schema, required);
  assert.equal(config.GRPC_PORT, 50053);
  assert.equal(config.HTTP_PORT, 9103);
  assert.equal(config.CREDIT_LIMIT_CENTS, 100_000);
  assert.equal(loadConfig(schema, { ...required, CREDIT_LIMIT_CENTS: '250000' }).CREDIT_LIMIT_CENTS, 250_000);
});

test('every violation is reported at once and secrets are not echoed', () => {
  assert.throws(
    () => loadConfig(schema, { DATABASE_URL: 'mysql://u:hunter2@h/db', CREDIT_LIMIT_CENTS: '12.5' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const keys = err.violations.map((v) => v.split('=')[0]).sort();
      assert.deepEqual(keys, ['CREDIT_LIMIT_CENTS', 'DATABASE_URL', 'KAFKA_BROKERS']);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    },
  );
  assert.throws(() => loadConfig(schema, { ...required, CREDIT_LIMIT_CENTS: '0' }), ConfigError);
});

const main = join(__dirname, '..', 'src', 'main.js');

test('main --help lists the variables and exits 0; a bad environment exits 2 before binding anything', () => {
  const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8', env: {} });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /CREDIT_LIMIT_CENTS/);
  assert.match(help.stdout, /DATABASE_URL/);
  const bad = spawnSync(process.execPath, [main], { encoding: 'utf8', env: { CREDIT_LIMIT_CENTS: '-1' } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /CREDIT_LIMIT_CENTS/);
  assert.match(bad.stderr, /KAFKA_BROKERS/);
});
