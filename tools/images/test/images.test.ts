// The four service images, built from the root Dockerfile (layers that `npm run images` built earlier in the same
// run are reused by the engine's cache) and started the way Kubernetes starts them: read-only root filesystem,
// uid/gid 1000, no capabilities, against the real PostgreSQL and Kafka of `npm test` (host network: they listen on
// loopback) and a test OpenID issuer. Each must become ready, the gRPC services must answer grpc.health.v1 Check with
// SERVING, the gateway its HTTP probes, and each must stop cleanly on SIGTERM (exit 0, the "stopped" log line).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkHealth } from '@shop/platform';
import { testInfra, testIssuer, type TestInfra, type TestIssuer } from '@shop/testkit';
import {
  buildImages,
  type BuiltImage,
  detectEngine,
  type Engine,
  formatSize,
  NO_ENGINE,
  repoRoot,
  SERVICES,
} from '../src/images';

const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const engine: Engine | undefined = detectEngine();
// Locally, without podman or docker, say why and skip; in CI a missing engine is a failure (below).
const skip = !engine && !inCi ? `${NO_ENGINE} (CI unset, so skipped)` : false;
const STOP_GRACE_S = 15;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function sh(cmd: string, args: string[], timeoutMs = 60_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

async function httpStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

interface Running {
  service: (typeof SERVICES)[number];
  name: string;
  httpPort: number;
  grpcPort?: number;
}

void describe('service images', { skip }, () => {
  const containers: Running[] = [];
  let built: BuiltImage[] = [];
  let issuer: TestIssuer | undefined;
  let infra: TestInfra;
  const buildLog: string[] = [];

  // The first build on a machine (base stand-in, the shared npm ci and build, four images) takes 10 to 15 minutes
  // on 2 cores; with the layers of an earlier `npm run images` it takes about a minute.
  before(
    async () => {
      assert.ok(engine, NO_ENGINE);
      infra = testInfra();
      issuer = await testIssuer();
      built = await buildImages({
        engine,
        services: SERVICES,
        tag: '0.1.0',
        output: (chunk) => {
          buildLog.push(chunk);
          if (buildLog.length > 400) buildLog.shift();
        },
      }).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}\n--- build output (tail) ---\n${buildLog.join('').slice(-3000)}`,
        );
      });
    },
    { timeout: 25 * 60_000 },
  );

  after(async () => {
    for (const c of containers) sh(engine!, ['rm', '--force', '--time', '0', c.name]);
    await issuer?.stop();
  });

  void it('builds all four images, each a few hundred MB at most', (t) => {
    assert.deepEqual(
      built.map((b) => b.service),
      [...SERVICES],
    );
    for (const b of built) {
      t.diagnostic(`${b.ref}: ${formatSize(b.sizeBytes)} (build ${b.seconds.toFixed(1)} s)`);
      assert.ok(b.sizeBytes > 50e6 && b.sizeBytes < 600e6, `${b.ref} is ${formatSize(b.sizeBytes)}`);
    }
  });

  void it('refuses an unknown SERVICE at the first stage that needs it, naming the choices', () => {
    const base = sh('bash', [join(repoRoot, 'scripts', 'base-image.sh'), '--print-tag']).stdout.trim();
    const r = sh(
      engine!,
      [
        'build',
        '--network',
        'host',
        '--build-arg',
        'SERVICE=billing',
        ...(engine === 'podman' ? ['--build-arg', `NODE_IMAGE=${base}`] : []),
        '-f',
        join(repoRoot, 'Dockerfile'),
        repoRoot,
      ],
      300_000,
    );
    assert.notEqual(r.status, 0, r.out);
    assert.match(
      r.out,
      /build with --build-arg SERVICE=<gateway\|orders\|inventory\|payments> \(got 'billing'\)/,
    );
  });

  void it('runtime images run as uid 1000 and carry no package manager', () => {
    for (const b of built) {
      const user = sh(engine!, ['image', 'inspect', '--format', '{{.Config.User}}', b.ref]);
      assert.equal(user.stdout.trim(), '1000:1000', b.ref);
      const npm = sh(engine!, [
        'run',
        '--rm',
        '--network',
        'none',
        '--entrypoint',
        'sh',
        b.ref,
        '-c',
        'id -u; command -v npm npx corepack || echo none',
      ]);
      assert.equal(npm.status, 0, npm.out);
      assert.deepEqual(npm.stdout.trim().split('\n'), ['1000', 'none'], b.ref);
    }
  });

  void it('each image starts read-only as uid 1000 against PostgreSQL and Kafka, gets ready and answers health', async () => {
    const ports = {
      orders: { grpc: await freePort(), http: await freePort() },
      inventory: { grpc: await freePort(), http: await freePort() },
      payments: { grpc: await freePort(), http: await freePort() },
      gateway: { http: await freePort() },
    };
    const dbUrl = (service: string): string => {
      const url = infra.databaseUrls[service];
      assert.ok(url, `no database URL for ${service} in SHOP_TEST_DATABASE_URLS`);
      return url;
    };
    const common = {
      BIND_HOST: '127.0.0.1',
      KAFKA_BROKERS: infra.kafkaBrokers,
      OIDC_ISSUER: issuer!.url,
      LOG_LEVEL: 'info',
      STARTUP_TIMEOUT_MS: '60000',
      SHUTDOWN_TIMEOUT_MS: '10000',
    };
    const envs: Record<(typeof SERVICES)[number], Record<string, string>> = {
      inventory: {
        ...common,
        GRPC_PORT: String(ports.inventory.grpc),
        HTTP_PORT: String(ports.inventory.http),
        DATABASE_URL: dbUrl('inventory'),
      },
      payments: {
        ...common,
        GRPC_PORT: String(ports.payments.grpc),
        HTTP_PORT: String(ports.payments.http),
        DATABASE_URL: dbUrl('payments'),
      },
      orders: {
        ...common,
        GRPC_PORT: String(ports.orders.grpc),
        HTTP_PORT: String(ports.orders.http),
        DATABASE_URL: dbUrl('orders'),
        INVENTORY_ADDR: `127.0.0.1:${ports.inventory.grpc}`,
      },
      gateway: {
        ...common,
        HTTP_PORT: String(ports.gateway.http),
        ORDERS_ADDR: `127.0.0.1:${ports.orders.grpc}`,
        INVENTORY_ADDR: `127.0.0.1:${ports.inventory.grpc}`,
        PAYMENTS_ADDR: `127.0.0.1:${ports.payments.grpc}`,
      },
    };
    for (const service of ['inventory', 'payments', 'orders', 'gateway'] as const) {
      const ref = built.find((b) => b.service === service)!.ref;
      const name = `shop-image-test-${service}-${process.pid}`;
      const env = Object.entries(envs[service]).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
      const r = sh(engine!, [
        'run',
        '--detach',
        '--name',
        name,
        '--network',
        'host',
        '--read-only',
        '--user',
        '1000:1000',
        '--tmpfs',
        '/tmp:rw,size=16m,mode=1777',
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '--stop-timeout',
        String(STOP_GRACE_S),
        ...env,
        ref,
      ]);
      assert.equal(r.status, 0, r.out);
      const grpcPort = service === 'gateway' ? undefined : ports[service].grpc;
      containers.push({ service, name, httpPort: ports[service].http, grpcPort });
    }

    for (const c of containers) {
      const deadline = Date.now() + 90_000;
      let ready: number | undefined;
      while (Date.now() < deadline) {
        ready = await httpStatus(`http://127.0.0.1:${c.httpPort}/readyz`);
        if (ready === 200) break;
        const state = sh(engine!, ['inspect', '--format', '{{.State.Status}}', c.name]).stdout.trim();
        if (state !== 'running') break;
        await sleep(500);
      }
      const logs = sh(engine!, ['logs', c.name]).out;
      assert.equal(
        ready,
        200,
        `${c.service} not ready on :${c.httpPort} (last status ${ready}); logs:\n${logs.slice(-3000)}`,
      );
      assert.equal(await httpStatus(`http://127.0.0.1:${c.httpPort}/livez`), 200, `${c.service} /livez`);
      if (c.grpcPort !== undefined) {
        assert.equal(
          await checkHealth(`127.0.0.1:${c.grpcPort}`, 3000),
          true,
          `${c.service} gRPC health SERVING`,
        );
      }
    }
    // The gateway's REST edge answers behind OIDC: without a token, a 401 problem (not a crash, not a 5xx).
    const gateway = containers.find((c) => c.service === 'gateway')!;
    assert.equal(await httpStatus(`http://127.0.0.1:${gateway.httpPort}/v1/orders`), 401);
  });

  void it('each container stops on SIGTERM with exit code 0 and its "stopped" line, within the grace period', () => {
    assert.equal(containers.length, 4, 'the start test ran');
    for (const c of [...containers].reverse()) {
      const started = Date.now();
      const r = sh(engine!, ['stop', '--time', String(STOP_GRACE_S), c.name], (STOP_GRACE_S + 15) * 1000);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(r.status, 0, r.out);
      const code = sh(engine!, ['inspect', '--format', '{{.State.ExitCode}}', c.name]).stdout.trim();
      const logs = sh(engine!, ['logs', c.name]).out;
      assert.equal(code, '0', `${c.service} exit code ${code}; logs:\n${logs.slice(-2000)}`);
      assert.ok(seconds < STOP_GRACE_S, `${c.service} took ${seconds} s to stop (grace ${STOP_GRACE_S} s)`);
      assert.match(logs, /"msg":"stopped"/, `${c.service} logs:\n${logs.slice(-2000)}`);
    }
  });
});
