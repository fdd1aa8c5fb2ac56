/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML. */
// The `helm test` Pod's program, run as rendered (its command and environment) on this machine's Node, against the
// real local issuer (tools/issuer) and a recording stand-in of the gateway's two routes (POST /v1/orders, GET
// /v1/orders/{id}) that checks each call's bearer token at the issuer's JWKS, answers 201 and then APPROVED, and
// records the customer. Run twice: every run must be a customer of its own (a fixed one runs out of credit after
// CREDIT_LIMIT_CENTS), signed up at the issuer and signed in with authorization code + PKCE. About 10-20 s.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { render, repoRoot } from './support';

type Any = any;
const ISSUER_PORT = 57166;
const issuerUrl = `http://127.0.0.1:${ISSUER_PORT}`;

async function verify(token: string): Promise<Record<string, unknown>> {
  // The issuer's own keys (ES256 JWKS), checked with WebCrypto: signature, issuer, audience, expiry.
  const [h, p, sig] = token.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const discovery = (await (await fetch(`${issuerUrl}/.well-known/openid-configuration`)).json()) as Any;
  const jwks = (await (await fetch(discovery.jwks_uri)).json()) as Any;
  const jwk = (jwks.keys as Any[]).find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} in the issuer's JWKS`);
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'verify',
  ]);
  const ok = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    Buffer.from(sig, 'base64url'),
    Buffer.from(`${h}.${p}`),
  );
  assert.ok(ok, 'token signature');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, Any>;
  assert.equal(claims.iss, issuerUrl);
  assert.ok([claims.aud].flat().includes('shop-api'), `aud ${claims.aud}`);
  assert.ok(claims.exp * 1000 > Date.now());
  return claims;
}

void describe('the helm test Pod, run against the real issuer', () => {
  let issuer: ChildProcess;
  let gateway: Server;
  let gatewayUrl = '';
  const orders: { customerId: string; sub: string }[] = [];
  const failures: string[] = [];

  before(async () => {
    const main = join(repoRoot, 'tools', 'issuer', 'dist', 'src', 'main.js');
    assert.ok(existsSync(main), `${main}: build tools/issuer first`);
    issuer = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        ISSUER_PORT: String(ISSUER_PORT),
        ISSUER_HOST: '127.0.0.1',
        ISSUER_STATE_DIR: mkdtempSync(join(tmpdir(), 'shop-helm-test-issuer-')),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await fetch(`${issuerUrl}/.well-known/openid-configuration`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      assert.ok(Date.now() < deadline, 'the issuer did not start within 30 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    gateway = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        void (async () => {
          const send = (code: number, value: unknown) => {
            res.writeHead(code, { 'content-type': 'application/json' });
            res.end(JSON.stringify(value));
          };
          try {
            const auth = req.headers.authorization ?? '';
            assert.match(auth, /^Bearer /, `${req.method} ${req.url}: bearer token`);
            const claims = await verify(auth.slice(7));
            if (req.method === 'POST' && req.url === '/v1/orders') {
              const order = JSON.parse(body);
              orders.push({ customerId: order.customerId, sub: String(claims.sub) });
              return send(201, { id: randomUUID(), status: 'PENDING' });
            }
            if (req.method === 'GET' && req.url?.startsWith('/v1/orders/'))
              return send(200, { status: 'APPROVED' });
            return send(404, { title: 'Not Found' });
          } catch (err) {
            failures.push((err as Error).message);
            return send(401, { title: 'Unauthorized', detail: (err as Error).message });
          }
        })();
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  });

  after(async () => {
    issuer?.kill('SIGTERM');
    await new Promise<void>((resolve) => gateway?.close(() => resolve()));
  });

  const pod = (): { command: string[]; env: Record<string, string> } => {
    const objects = render({
      mesh: { enabled: false },
      auth: { mode: 'oidc', oidc: { issuer: issuerUrl } },
      helmTest: { timeoutSeconds: 30, auth: { register: true } },
    }) as Any[];
    const p = objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');
    const c = p.spec.containers[0];
    const env: Record<string, string> = {};
    for (const e of c.env) {
      assert.ok(e.value !== undefined, `${e.name}: no Secret needed with register`);
      env[e.name] = e.value;
    }
    env.GATEWAY_URL = gatewayUrl; // the Service address inside the cluster; this machine's stand-in here
    return { command: [...c.command, ...c.args], env };
  };

  const runPod = async (): Promise<{ status: number; output: string }> => {
    const { command, env } = pod();
    assert.equal(command[0], 'node');
    const child = spawn(process.execPath, command.slice(1), {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const status = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    clearTimeout(timer);
    return { status, output };
  };

  void it('two runs: each registers, signs in and orders as a customer of its own, and passes', async () => {
    const first = await runPod();
    assert.equal(first.status, 0, first.output);
    assert.match(first.output, /registered customer helm-test-[0-9a-f]{12} at the issuer/);
    assert.match(first.output, /helm test passed/);
    const second = await runPod();
    assert.equal(second.status, 0, second.output);
    assert.deepEqual(failures, []);
    assert.equal(orders.length, 2);
    for (const o of orders) {
      assert.equal(o.customerId, o.sub, 'the order is placed as the signed-in customer');
      assert.match(o.customerId, /^helm-test-[0-9a-f]{12}$/);
    }
    assert.notEqual(orders[0]!.customerId, orders[1]!.customerId, 'a fresh customer per run');
  });
});
