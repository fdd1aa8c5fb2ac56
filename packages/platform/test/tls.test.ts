// gRPC mutual TLS with real handshakes: certificates made by openssl (@shop/testkit certs.ts), a real grpc-js server
// and clients over loopback. No PostgreSQL or Kafka needed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCa, installCerts, issueLeaf } from '@shop/testkit';
import type { TestCa } from '@shop/testkit';
import { z } from 'zod';
import {
  commonConfig,
  ConfigError,
  createGrpcClient,
  createLogger,
  createMetrics,
  FaultRegistry,
  grpc,
  GrpcTls,
  loadConfig,
  startGrpcServer,
  unary,
} from '../src/index';
import type { Metrics, RunningGrpcServer } from '../src/index';
import { EchoClient, echoDefinition } from './support';

const quiet = () => createLogger('tls-test', 'silent');

let dir: string;
let legacyCa: TestCa;
let meshCa: TestCa;
let otherCa: TestCa;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shop-tls-'));
  legacyCa = createCa(join(dir, 'legacy-ca'), 'legacy', 'shop-legacy-ca');
  meshCa = createCa(join(dir, 'mesh-ca'), 'mesh', 'istio-ca');
  otherCa = createCa(join(dir, 'other-ca'), 'legacy', 'someone-else');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A service's cert.pem/key.pem/ca.pem in its own folder. */
function identity(name: string, ca: TestCa, bundle = ca.pem) {
  return installCerts(
    join(dir, `${name}-${Math.random().toString(36).slice(2)}`),
    issueLeaf(ca, name, join(dir, 'leaves')),
    bundle,
  );
}

function tlsOf(files: ReturnType<typeof identity>, metrics: Metrics, faults?: FaultRegistry) {
  return new GrpcTls({
    files,
    reloadMs: 100,
    maxConnectionAgeMs: 300_000,
    logger: quiet(),
    registry: metrics.registry,
    ...(faults ? { faults } : {}),
  });
}

async function echoServer(tls: GrpcTls): Promise<RunningGrpcServer> {
  const metrics = createMetrics('srv');
  const server = await startGrpcServer(
    {
      reflection: false,
      services: [
        {
          name: 'test.Echo',
          definition: echoDefinition,
          implementation: {
            echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request),
          },
        },
      ],
      metrics,
      logger: quiet(),
      tls,
    },
    '127.0.0.1',
    0,
    'GRPC_PORT',
  );
  server.setServing(true);
  return server;
}

const echo = (c: InstanceType<typeof EchoClient>) =>
  unary<Buffer, Buffer>(c.echo.bind(c) as never, Buffer.from('hi'), { deadline: Date.now() + 3000 });

async function peerExpiry(metrics: Metrics, peer: string): Promise<number | undefined> {
  const m = await metrics.registry.getSingleMetric('tls_peer_certificate_expiry_timestamp_seconds')?.get();
  return m?.values.find((v) => v.labels.peer === peer)?.value;
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  return (
    m?.values
      .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
      .reduce((a, v) => a + v.value, 0) ?? 0
  );
}

describe('gRPC mTLS', () => {
  it('accepts a client with a certificate of the CA, verifying the server by its SAN', async () => {
    const server = await echoServer(tlsOf(identity('inventory', legacyCa), createMetrics('s')));
    const metrics = createMetrics('c');
    const c = createGrpcClient(EchoClient, `127.0.0.1:${server.port}`, {
      deadlineMs: 3000,
      metrics,
      tls: { tls: tlsOf(identity('gateway', legacyCa), metrics), peer: 'inventory' },
    });
    try {
      assert.equal((await echo(c)).toString(), 'hi');
      assert.equal(await counter(metrics, 'tls_peer_verifications_total', { result: 'accepted' }), 1);
      assert.ok(((await peerExpiry(metrics, 'inventory')) ?? 0) > Date.now() / 1000 + 300 * 86400);
    } finally {
      c.close();
      await server.stop(1000);
    }
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const serverMetrics = createMetrics('s');
    const server = await echoServer(tlsOf(identity('inventory', legacyCa), serverMetrics));
    const plain = new EchoClient(
      `127.0.0.1:${server.port}`,
      grpc.credentials.createSsl(Buffer.from(legacyCa.pem)),
      {
        'grpc.ssl_target_name_override': 'inventory',
        'grpc.enable_retries': 0,
      },
    );
    const metrics = createMetrics('c');
    // Trusts the server (legacy CA in its bundle) but presents a certificate of another CA.
    const stranger = createGrpcClient(EchoClient, `127.0.0.1:${server.port}`, {
      deadlineMs: 3000,
      metrics,
      tls: {
        tls: tlsOf(identity('gateway', otherCa, otherCa.pem + legacyCa.pem), metrics),
        peer: 'inventory',
      },
    });
    try {
      await assert.rejects(echo(plain), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      await assert.rejects(echo(stranger), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      // Refused before any call: visible only in the server's handshake counter.
      assert.ok((await counter(serverMetrics, 'tls_handshake_failures_total', {})) >= 2);
    } finally {
      plain.close();
      stranger.close();
      await server.stop(1000);
    }
  });

  it('refuses a server whose chain the client CA does not sign, and one whose SAN names another service', async () => {
    const server = await echoServer(
      tlsOf(identity('inventory', otherCa, otherCa.pem + legacyCa.pem), createMetrics('s')),
    );
    const metrics = createMetrics('c');
    const tls = tlsOf(identity('gateway', legacyCa), metrics);
    const c = createGrpcClient(EchoClient, `127.0.0.1:${server.port}`, {
      deadlineMs: 3000,
      metrics,
      tls: { tls, peer: 'inventory' },
    });
    const server2 = await echoServer(tlsOf(identity('payments', legacyCa), createMetrics('s')));
    const c2 = createGrpcClient(EchoClient, `127.0.0.1:${server2.port}`, {
      deadlineMs: 3000,
      metrics,
      tls: { tls, peer: 'inventory' },
    });
    try {
      await assert.rejects(echo(c), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      await assert.rejects(echo(c2), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      assert.equal(
        await counter(metrics, 'tls_peer_verifications_total', {
          result: 'rejected',
          reason: 'san_mismatch',
        }),
        1,
      );
    } finally {
      c.close();
      c2.close();
      await server.stop(1000);
      await server2.stop(1000);
    }
  });

  it('uses rotated files for new connections without a restart, and keeps the old set when the new one is broken', async () => {
    const bundle = legacyCa.pem + meshCa.pem;
    const serverMetrics = createMetrics('s');
    const serverFiles = identity('inventory', legacyCa, bundle);
    const server = await echoServer(tlsOf(serverFiles, serverMetrics));
    const metrics = createMetrics('c');
    const tls = tlsOf(identity('gateway', legacyCa, bundle), metrics);
    const open = () =>
      createGrpcClient(EchoClient, `127.0.0.1:${server.port}`, {
        deadlineMs: 3000,
        metrics,
        tls: { tls, peer: 'inventory' },
      });
    const c1 = open();
    try {
      await echo(c1);
      const before = (await peerExpiry(metrics, 'inventory')) ?? 0;
      // The new format from the new CA, into the same files the server reads.
      const leaf = issueLeaf(meshCa, 'inventory', join(dir, 'leaves'));
      installCerts(join(serverFiles.certFile, '..'), leaf, bundle);
      await sleep(500);
      assert.equal(await counter(serverMetrics, 'tls_certificate_reloads_total', { result: 'success' }), 1);
      const c2 = open();
      try {
        await echo(c2);
      } finally {
        c2.close();
      }
      const afterRotation = (await peerExpiry(metrics, 'inventory')) ?? 0;
      // Legacy certificates last a year, mesh ones a day: the new one is the one presented now.
      assert.ok(before - afterRotation > 300 * 86400, `peer expiry ${before} -> ${afterRotation}`);
      writeFileSync(serverFiles.keyFile, 'not a key');
      await sleep(500);
      assert.equal(await counter(serverMetrics, 'tls_certificate_reloads_total', { result: 'failure' }), 1);
      const c3 = open();
      try {
        assert.equal((await echo(c3)).toString(), 'hi', 'the previous, valid set stays in use');
      } finally {
        c3.close();
      }
    } finally {
      c1.close();
      await server.stop(1000);
    }
  });

  it('legacy-cert-validator rejects the mesh format and accepts the legacy one', async () => {
    const bundle = legacyCa.pem + meshCa.pem;
    const meshServer = await echoServer(tlsOf(identity('inventory', meshCa, bundle), createMetrics('s')));
    const legacyServer = await echoServer(tlsOf(identity('inventory', legacyCa, bundle), createMetrics('s')));
    const metrics = createMetrics('c');
    const faults = new FaultRegistry('gateway', quiet(), metrics);
    faults.set('legacy-cert-validator', { target: 'inventory' });
    const tls = tlsOf(identity('gateway', legacyCa, bundle), metrics, faults);
    const to = (port: number) =>
      createGrpcClient(EchoClient, `127.0.0.1:${port}`, {
        deadlineMs: 3000,
        metrics,
        tls: { tls, peer: 'inventory' },
      });
    const mesh = to(meshServer.port);
    const legacy = to(legacyServer.port);
    try {
      await assert.rejects(echo(mesh), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      assert.equal(
        await counter(metrics, 'tls_peer_verifications_total', { result: 'rejected', reason: 'legacy_cn' }),
        1,
      );
      assert.equal((await echo(legacy)).toString(), 'hi');
      // The standard check (fault off) accepts the mesh format: chain from the new CA, spiffe:// SAN.
      faults.clear('legacy-cert-validator');
      const again = to(meshServer.port);
      try {
        assert.equal((await echo(again)).toString(), 'hi');
      } finally {
        again.close();
      }
    } finally {
      mesh.close();
      legacy.close();
      await meshServer.stop(1000);
      await legacyServer.stop(1000);
    }
  });
});

describe('GRPC_TLS_* configuration', () => {
  const schema = z.object(commonConfig(0));
  it('is plaintext when none is set', () => {
    const c = loadConfig(schema, {});
    assert.equal(c.GRPC_TLS_CERT_FILE, undefined);
  });
  it('wants all three, naming the missing ones', () => {
    assert.throws(
      () => loadConfig(schema, { GRPC_TLS_CERT_FILE: '/x.pem' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.violations.length === 2 &&
        /^GRPC_TLS_KEY_FILE=not set/.test(e.violations[0] ?? '') &&
        /^GRPC_TLS_CA_FILE=not set/.test(e.violations[1] ?? ''),
    );
  });
  it('names an unreadable file, a file that is not PEM, and a key of another certificate', () => {
    const good = identity('orders', legacyCa);
    const other = identity('orders', legacyCa);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'hello');
    const cases: [Record<string, string>, RegExp][] = [
      [{ GRPC_TLS_CA_FILE: join(dir, 'missing.pem') }, /^GRPC_TLS_CA_FILE=.*cannot read/],
      [{ GRPC_TLS_CERT_FILE: junk }, /^GRPC_TLS_CERT_FILE=.*no PEM CERTIFICATE/],
      [{ GRPC_TLS_KEY_FILE: junk }, /^GRPC_TLS_KEY_FILE=.*not a PEM private key/],
      [{ GRPC_TLS_KEY_FILE: other.keyFile }, /^GRPC_TLS_KEY_FILE=.*does not belong to the certificate/],
    ];
    const base = {
      GRPC_TLS_CERT_FILE: good.certFile,
      GRPC_TLS_KEY_FILE: good.keyFile,
      GRPC_TLS_CA_FILE: good.caFile,
    };
    assert.equal(loadConfig(schema, base).GRPC_TLS_CERT_FILE, good.certFile);
    for (const [env, re] of cases)
      assert.throws(
        () => loadConfig(schema, { ...base, ...env }),
        (e: unknown) => e instanceof ConfigError && re.test(e.violations[0] ?? ''),
        JSON.stringify(env),
      );
  });
  it('validates GRPC_TLS_RELOAD_MS like any number', () => {
    assert.throws(
      () => loadConfig(schema, { GRPC_TLS_RELOAD_MS: '0' }),
      /GRPC_TLS_RELOAD_MS="0": expected a positive integer/,
    );
  });
});
