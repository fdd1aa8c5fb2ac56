// The launcher's port table is read from the services' configuration; this checks it against the real thing: the
// four built services started with no port in their environment (their defaults), exactly as `npm start` starts
// them otherwise, must answer on the table's HTTP ports and accept connections on its gRPC ports. It uses the fixed
// default ports (8080, 9101-9103, 50051-50053): a platform started with `npm start` on this machine makes it fail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { testInfra, testIssuer, type TestIssuer } from '@shop/testkit';
import { defaultPorts, SERVICE_NAMES, servicesAt, type ServicePorts } from '../src/ports';
import { waitExit, waitReady } from '../src/proc';
import { serviceEnv, spawnService, upstreamsOf } from '../src/start';

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });

describe('the port table of npm start', () => {
  const table = defaultPorts();
  const children: ChildProcess[] = [];
  let output = '';
  let issuer: TestIssuer | undefined;

  before(async () => {
    const busy: number[] = [];
    for (const s of table)
      for (const port of [s.httpPort, s.grpcPort]) if (port && !(await canBind(port))) busy.push(port);
    assert.deepEqual(busy, [], 'default ports already in use (is `npm start` running on this machine?)');
    const infra = testInfra();
    // The services verify tokens of an issuer (AUTH_MODE=oidc, their default), as under `npm start`.
    issuer = await testIssuer();
    for (const svc of table) {
      const env = serviceEnv(svc, infra, {});
      env.OIDC_ISSUER = issuer.url;
      // Nothing but the defaults of the service's own configuration decides where it listens and whom it calls.
      for (const name of ['HTTP_PORT', 'GRPC_PORT', 'ADMIN_PORT', ...Object.keys(upstreamsOf(table))])
        delete env[name];
      env.LOG_LEVEL = 'warn';
      const child = spawnService(svc.name, env, 'pipe');
      child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      children.push(child);
    }
  });

  after(async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => waitExit(c, 15_000)));
    await issuer?.stop();
  });

  it('has every service, in start order', () => {
    assert.deepEqual(
      table.map((s) => s.name),
      [...SERVICE_NAMES],
    );
    assert.deepEqual(
      table.map((s) => s.adminPort),
      [9182, 9183, 9181, 9180],
    );
  });

  it('names the HTTP port each service listens on by default', async () => {
    for (const s of table) {
      assert.ok(
        await waitReady(`http://127.0.0.1:${s.httpPort}/readyz`, 60_000),
        `${s.name} not ready on ${s.httpPort}; output:\n${output.slice(-3000)}`,
      );
    }
  });

  it('names the gRPC port each backend listens on by default (none for the gateway)', async () => {
    const gateway = table.find((s) => s.name === 'gateway');
    assert.equal(gateway?.grpcPort, 0);
    for (const s of table.filter((t) => t.grpcPort))
      assert.ok(await accepts(s.grpcPort), `${s.name}: nothing listens on gRPC port ${s.grpcPort}`);
  });

  it('shifts every port by --port-offset', () => {
    const shifted = servicesAt(1600);
    const expected = table.map((s): ServicePorts => ({
      ...s,
      httpPort: s.httpPort + 1600,
      adminPort: s.adminPort + 1600,
      grpcPort: s.grpcPort && s.grpcPort + 1600,
    }));
    assert.deepEqual(shifted, expected);
  });
});
