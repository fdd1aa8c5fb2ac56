import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, env, loadConfig, z } from '../src';
import { backendConfig, commonConfig } from '../src/runtime';

const schema = z.object(backendConfig(50051, 9101));
const good = {
  DATABASE_URL: 'postgres://orders:secret@127.0.0.1:5432/orders',
  KAFKA_BROKERS: '127.0.0.1:9092',
};

function violations(source: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(schema, source);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.violations;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('applies defaults and coerces numbers', () => {
    const c = loadConfig(schema, good);
    assert.equal(c.GRPC_PORT, 50051);
    assert.equal(c.HTTP_PORT, 9101);
    assert.equal(c.LOG_LEVEL, 'info');
    assert.equal(c.BIND_HOST, '127.0.0.1');
    assert.equal(loadConfig(schema, { ...good, GRPC_PORT: '0' }).GRPC_PORT, 0);
  });

  it('treats empty strings as unset', () => {
    assert.equal(loadConfig(schema, { ...good, LOG_LEVEL: '' }).LOG_LEVEL, 'info');
  });

  it('lists every violation at once, naming the variable and what it expects', () => {
    const v = violations({
      DATABASE_URL: 'not a url',
      KAFKA_BROKERS: 'nohostport',
      GRPC_PORT: '-1',
      HTTP_PORT: '70000',
      LOG_LEVEL: 'verbose',
      STARTUP_TIMEOUT_MS: 'soon',
    });
    const byVar = (name: string) => v.find((line) => line.startsWith(`${name}=`));
    assert.equal(v.length, 6, v.join('\n'));
    assert.match(byVar('GRPC_PORT') ?? '', /"-1": expected a port between 0 and 65535/);
    assert.match(byVar('HTTP_PORT') ?? '', /"70000": expected a port between 0 and 65535/);
    assert.match(
      byVar('LOG_LEVEL') ?? '',
      /"verbose": expected one of fatal, error, warn, info, debug, trace, silent/,
    );
    assert.match(byVar('KAFKA_BROKERS') ?? '', /host:port/);
    assert.match(byVar('STARTUP_TIMEOUT_MS') ?? '', /positive integer/);
    // The URL may hold a password: its value is never echoed.
    assert.match(byVar('DATABASE_URL') ?? '', /^DATABASE_URL=value hidden: expected a postgres:\/\//);
  });

  it('validates the telemetry variables with the others, before the service binds', () => {
    const v = violations({
      ...good,
      OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4318',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '1.5',
    });
    assert.equal(v.length, 3, v.join('\n'));
    assert.match(
      v[0] ?? '',
      /^OTEL_EXPORTER_OTLP_ENDPOINT="127.0.0.1:4318": expected an http:\/\/ or https:\/\/ URL/,
    );
    assert.match(
      v[1] ?? '',
      /^OTEL_TRACES_SAMPLER="sometimes": expected one of always_on, .*parentbased_traceidratio/,
    );
    assert.match(v[2] ?? '', /^OTEL_TRACES_SAMPLER_ARG="1.5": expected a number between 0 and 1/);
    const c = loadConfig(schema, {
      ...good,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    assert.equal(c.OTEL_TRACES_SAMPLER_ARG, 0.25);
    assert.equal(c.DEPLOYMENT_ENVIRONMENT, 'local');
    const help = describeConfig(schema).join('\n');
    for (const name of [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
      'DEPLOYMENT_ENVIRONMENT',
    ])
      assert.match(help, new RegExp(`^  ${name} `, 'm'));
  });

  it('validates the trace exporter variables: a list of otlp, zipkin, console, none and a Zipkin URL', () => {
    const v = violations({
      ...good,
      OTEL_TRACES_EXPORTER: 'zipkin,jaeger',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: '127.0.0.1:9411',
    });
    assert.equal(v.length, 2, v.join('\n'));
    assert.match(
      v[0] ?? '',
      /^OTEL_TRACES_EXPORTER="zipkin,jaeger": expected a comma-separated list of otlp, zipkin, console, none/,
    );
    assert.match(
      v[1] ?? '',
      /^OTEL_EXPORTER_ZIPKIN_ENDPOINT="127.0.0.1:9411": expected an http:\/\/ or https:\/\/ URL/,
    );
    const c = loadConfig(schema, {
      ...good,
      OTEL_TRACES_EXPORTER: 'zipkin, otlp',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://127.0.0.1:9411/api/v2/spans',
    });
    assert.equal(c.OTEL_TRACES_EXPORTER, 'zipkin, otlp');
    assert.equal(c.OTEL_EXPORTER_ZIPKIN_ENDPOINT, 'http://127.0.0.1:9411/api/v2/spans');
    const help = describeConfig(schema).join('\n');
    for (const name of ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT'])
      assert.match(help, new RegExp(`^  ${name} `, 'm'));
  });

  it('gives the gateway no start-up timeout: it has nothing to wait for at start-up', () => {
    assert.ok(!('STARTUP_TIMEOUT_MS' in commonConfig(8080)));
    assert.ok('STARTUP_TIMEOUT_MS' in backendConfig(50051, 9101));
  });

  it('reports missing required variables', () => {
    const v = violations({});
    assert.ok(v.some((l) => l.startsWith('DATABASE_URL=not set')));
    assert.ok(v.some((l) => l.startsWith('KAFKA_BROKERS=not set')));
  });

  it('describes every variable for --help', () => {
    const lines = describeConfig(schema);
    assert.equal(lines.length, Object.keys(schema.shape).length);
    assert.ok(lines.some((l) => l.includes('GRPC_PORT') && l.includes('default: 50051')));
    assert.ok(lines.some((l) => l.includes('DATABASE_URL') && l.includes('(required)')));
  });

  it('validates addresses', () => {
    const s = z.object({ ADDR: env.address('127.0.0.1:1', 'upstream') });
    assert.throws(() => loadConfig(s, { ADDR: 'http://x' }), /ADDR="http:\/\/x": expected host:port/);
  });
});
