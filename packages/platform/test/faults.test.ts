import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  burnCpu,
  ConfigError,
  commonConfig,
  createGrpcClient,
  createLogger,
  createMetrics,
  DEFAULT_DEPENDENCY_SETTINGS,
  dependencyGuard,
  FaultRegistry,
  FaultValidationError,
  grpc,
  loadConfig,
  parseFaultsEnv,
  startGrpcServer,
  unary,
} from '../src/index';
import { EchoClient, echoDefinition } from './support';

const quiet = () => createLogger('faults-test', 'silent');

describe('FAULTS', () => {
  const schema = z.object(commonConfig(0));
  it('is off by default', () => {
    assert.deepEqual(loadConfig(schema, {}).FAULTS, []);
  });
  it('parses typed parameters with their defaults', () => {
    const c = loadConfig(schema, { FAULTS: '{"http-latency":{"fixedMs":50}}' });
    assert.deepEqual(c.FAULTS, [
      { name: 'http-latency', params: { fixedMs: 50, jitterMs: 0, percent: 100 } },
    ]);
  });
  it('names every bad fault and field, as a config error (exit 2 in main)', () => {
    assert.throws(
      () => loadConfig(schema, { FAULTS: '{"nope":{},"grpc-server-error":{"code":"BOGUS"}}' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /FAULTS=.*nope: unknown fault/.test(err.message) &&
        /grpc-server-error\.code/.test(err.message),
    );
    assert.throws(() => loadConfig(schema, { FAULTS: 'not json' }), /FAULTS.*not JSON/);
  });
  it('rejects parameters a fault does not have', () => {
    assert.throws(
      () => parseFaultsEnv('{"cpu-burn":{"utilisation":50}}'),
      (e: unknown) => e instanceof FaultValidationError && e.issues.some((i) => i.field === 'cpu-burn'),
    );
  });
});

describe('FaultRegistry', () => {
  it('shows active faults in fault_injection_active and forgets them when cleared', async () => {
    const metrics = createMetrics('t');
    const faults = new FaultRegistry('t', quiet(), metrics);
    faults.set('kafka-producer-blackhole', { topic: 'x' });
    assert.match(
      await metrics.registry.metrics(),
      /fault_injection_active\{[^}]*fault="kafka-producer-blackhole"[^}]*\} 1/,
    );
    assert.ok(faults.hit('kafka-producer-blackhole', { topic: 'x' }));
    assert.equal(faults.hit('kafka-producer-blackhole', { topic: 'y' }), undefined, 'scoped to its topic');
    assert.equal(faults.clear('kafka-producer-blackhole'), true);
    assert.match(
      await metrics.registry.metrics(),
      /fault_injection_active\{[^}]*fault="kafka-producer-blackhole"[^}]*\} 0/,
    );
    assert.equal(faults.hit('kafka-producer-blackhole', { topic: 'x' }), undefined);
  });
  it('refuses a fault meant for another service, and FAULTS entries for others are skipped', () => {
    const faults = new FaultRegistry('orders', quiet(), createMetrics('orders'));
    assert.throws(() => faults.set('cpu-burn', { service: 'payments' }), FaultValidationError);
    faults.applyAll(
      parseFaultsEnv('{"cpu-burn":{"service":"payments"},"readiness-fail":{"service":"orders"}}'),
    );
    assert.deepEqual(
      faults.list().map((f) => f.name),
      ['readiness-fail'],
    );
  });
  it('acts on about the given percentage of calls', () => {
    const faults = new FaultRegistry('t', quiet(), createMetrics('t'));
    faults.set('http-error', { status: 500, percent: 30 });
    let hits = 0;
    for (let i = 0; i < 2000; i++) if (faults.hit('http-error', { route: '/a', method: 'GET' })) hits++;
    assert.ok(hits > 450 && hits < 750, `${hits} of 2000`);
  });
});

describe('http-cpu-cost', () => {
  it('costs the given CPU time of the thread, not wall time', () => {
    const before = process.threadCpuUsage();
    burnCpu(40);
    const used = process.threadCpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms >= 40 && ms < 80, `${ms} ms of CPU`);
  });
  it('names the field of a bad cost', () => {
    assert.throws(
      () => parseFaultsEnv('{"http-cpu-cost":{"cpuMs":0}}'),
      (e: unknown) =>
        e instanceof FaultValidationError && e.issues.some((i) => i.field === 'http-cpu-cost.cpuMs'),
    );
  });
});

describe('retry-storm', () => {
  const failing = () => {
    const calls = { n: 0 };
    const fn = () => {
      calls.n++;
      return Promise.reject(
        Object.assign(new Error('14 UNAVAILABLE: down'), { code: grpc.status.UNAVAILABLE }),
      );
    };
    return { calls, fn };
  };

  it('repeats every failing call at once, attempts in all, past an open breaker; off: the guard again', async () => {
    const metrics = createMetrics('t');
    const faults = new FaultRegistry('t', quiet(), metrics);
    const guard = dependencyGuard(
      'inventory',
      { ...DEFAULT_DEPENDENCY_SETTINGS, breakerFailures: 2 },
      { metrics, logger: quiet() },
    );
    faults.set('retry-storm', { target: 'inventory', attempts: 4 });
    const { calls, fn } = failing();
    for (let i = 0; i < 5; i++) await guard.execute(fn).catch(() => undefined);
    assert.equal(calls.n, 20, '5 calls x 4 attempts, no breaker in the way');
    faults.clear('retry-storm');
    calls.n = 0;
    for (let i = 0; i < 5; i++) await guard.execute(fn).catch(() => undefined);
    assert.equal(calls.n, 2, 'the product guard: the breaker opens after 2 failures and fails fast');
    assert.equal(guard.state(), 'open');
  });

  it('is scoped to a dependency and bounded in attempts', () => {
    const faults = new FaultRegistry('t', quiet(), createMetrics('t'));
    faults.set('retry-storm', { target: 'inventory' });
    assert.ok(faults.hit('retry-storm', { target: 'inventory' }));
    assert.equal(faults.hit('retry-storm', { target: 'payments' }), undefined);
    assert.throws(() => parseFaultsEnv('{"retry-storm":{"attempts":50}}'), /retry-storm\.attempts/);
  });
});

describe('gRPC faults', () => {
  const def = echoDefinition;
  const Client = EchoClient;

  it('server latency and errors on one method; client errors on one dependency, counted by the client metrics', async () => {
    const metrics = createMetrics('srv');
    const faults = new FaultRegistry('srv', quiet(), metrics);
    const server = await startGrpcServer(
      {
        services: [
          {
            name: 'test.Echo',
            definition: def,
            implementation: {
              echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request),
            },
          },
        ],
        reflection: false,
        metrics,
        logger: quiet(),
        faults,
      },
      '127.0.0.1',
      0,
      'GRPC_PORT',
    );
    const clientMetrics = createMetrics('cli');
    const clientFaults = new FaultRegistry('cli', quiet(), clientMetrics);
    const client = createGrpcClient(Client, `127.0.0.1:${server.port}`, {
      deadlineMs: 2000,
      metrics: clientMetrics,
    });
    const echo = (client.echo as (...a: unknown[]) => grpc.ClientUnaryCall).bind(client);
    const call = () => unary<Buffer, Buffer>(echo, Buffer.from('hi'));
    try {
      assert.equal((await call()).toString(), 'hi');
      faults.set('grpc-server-latency', { method: 'Echo', fixedMs: 200 });
      const t = performance.now();
      await call();
      assert.ok(performance.now() - t >= 200);
      faults.set('grpc-server-error', { method: 'Echo', code: 'RESOURCE_EXHAUSTED' });
      await assert.rejects(
        call(),
        (e: { code?: number }) => e.code === Number(grpc.status.RESOURCE_EXHAUSTED),
      );
      faults.clearAll();
      clientFaults.set('grpc-client-error', { target: 'test.Echo', code: 'UNAVAILABLE' });
      await assert.rejects(call(), (e: { code?: number }) => e.code === Number(grpc.status.UNAVAILABLE));
      assert.match(
        await clientMetrics.registry.metrics(),
        /grpc_client_handled_total\{[^}]*grpc_method="Echo",grpc_code="UNAVAILABLE"[^}]*\} 1/,
      );
      assert.match(
        await metrics.registry.metrics(),
        /grpc_server_handled_total\{[^}]*grpc_code="RESOURCE_EXHAUSTED"/,
      );
    } finally {
      client.close();
      await server.stop(1000);
    }
  });
});
