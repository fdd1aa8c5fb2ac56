/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped YAML. */
// Database passwords survive upgrades and reinstalls: the chart renders against a cluster that already holds the
// Secrets (`helm template --dry-run=server`, which runs the templates' `lookup`), played by a recording stand-in of
// the Kubernetes API on loopback: discovery for the kinds the chart renders, and GET of the Secrets it holds. Every
// request is recorded; the chart must look each database Secret up and keep the password it finds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chartDir, helmBinary, namespace, parseYamlStream, release, render } from './support';

type Any = any;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The API server's answers: discovery of every kind in `objects`, and the Secrets in `secrets`. */
function fakeApi(objects: Any[], secrets: Record<string, Record<string, string>>) {
  const groups = new Map<string, Map<string, { kind: string; namespaced: boolean }>>();
  for (const o of objects) {
    const gv: string = o.apiVersion;
    if (!groups.has(gv)) groups.set(gv, new Map());
    groups.get(gv)!.set(o.kind, { kind: o.kind, namespaced: o.kind !== 'Namespace' });
  }
  if (!groups.has('v1')) groups.set('v1', new Map());
  groups.get('v1')!.set('Secret', { kind: 'Secret', namespaced: true });
  const plural = (k: string) => `${k.toLowerCase()}${k.endsWith('y') ? '' : 's'}`.replace(/ys$/, 'ies');
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0]!;
    requests.push(`${req.method} ${url}`);
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const notFound = (message: string) =>
      json(404, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'NotFound',
        code: 404,
        message,
      });
    const resources = (gv: string) => ({
      kind: 'APIResourceList',
      groupVersion: gv,
      resources: [...groups.get(gv)!.values()].map((r) => ({
        name: plural(r.kind),
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
      })),
    });
    if (url === '/version') return json(200, { major: '1', minor: '33', gitVersion: 'v1.33.1' });
    if (url === '/api') return json(200, { kind: 'APIVersions', versions: ['v1'] });
    if (url === '/api/v1') return json(200, resources('v1'));
    if (url === '/apis') {
      const list = [...groups.keys()].filter((gv) => gv.includes('/'));
      return json(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: list.map((gv) => {
          const [group, version] = gv.split('/') as [string, string];
          const v = { groupVersion: gv, version };
          return { name: group, versions: [v], preferredVersion: v };
        }),
      });
    }
    const g = /^\/apis\/([^/]+\/[^/]+)$/.exec(url);
    if (g && groups.has(g[1]!)) return json(200, resources(g[1]!));
    const s = new RegExp(`^/api/v1/namespaces/${namespace}/secrets/([^/]+)$`).exec(url);
    if (s) {
      const data = secrets[s[1]!];
      if (!data) return notFound(`secrets "${s[1]}" not found`);
      return json(200, {
        apiVersion: 'v1',
        kind: 'Secret',
        // As `helm uninstall` leaves a Secret with helm.sh/resource-policy: keep: still marked as the release's,
        // so that a reinstall under the same name adopts it.
        metadata: {
          name: s[1],
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'Helm' },
          annotations: { 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace },
        },
        type: 'Opaque',
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
      });
    }
    return notFound(`${url} not served`);
  });
  return { server, requests };
}

async function renderAgainst(port: number): Promise<{ status: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-kubeconfig-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'stand-in', user: { token: 'stand-in' } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in', namespace } }],
      'current-context': 'stand-in',
    }),
  );
  // Asynchronous: the API stand-in runs in this process and must answer while helm waits.
  const child = spawn(
    helmBinary(),
    ['template', release, chartDir, '-n', namespace, '--dry-run=server', '--disable-openapi-validation'],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const status = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  clearTimeout(timer);
  return { status, stdout, stderr };
}

void describe('database Secrets on upgrade and reinstall (lookup against a cluster that holds them)', () => {
  const held = {
    'orders-database': { password: 'kept-orders-password-1', username: 'orders' },
    'postgresql-admin': { password: 'kept-admin-password-1' },
  };
  let api: ReturnType<typeof fakeApi>;
  let port = 0;
  before(async () => {
    api = fakeApi(render({}) as Any[], held);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    port = (api.server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => api.server.close(() => resolve())));

  void it('keeps the passwords the cluster holds, generates only the missing ones, and keeps them on uninstall', async () => {
    const r = await renderAgainst(port);
    assert.equal(r.status, 0, r.stderr);
    const secrets = new Map(
      (parseYamlStream(r.stdout) as Any[])
        .filter((o) => o.kind === 'Secret')
        .map((o) => [o.metadata.name, o]),
    );
    for (const name of ['orders-database', 'inventory-database', 'payments-database', 'postgresql-admin'])
      assert.ok(
        api.requests.includes(`GET /api/v1/namespaces/${namespace}/secrets/${name}`),
        `looked up ${name}`,
      );
    const orders = secrets.get('orders-database');
    assert.equal(orders.stringData.password, 'kept-orders-password-1');
    assert.equal(
      orders.stringData.DATABASE_URL,
      `postgres://orders:kept-orders-password-1@postgresql.${namespace}.svc.cluster.local:5432/orders`,
    );
    assert.equal(secrets.get('postgresql-admin').stringData.password, 'kept-admin-password-1');
    // Not held by the cluster: a new random password (the volume of a fresh install has no role yet).
    assert.match(secrets.get('inventory-database').stringData.password, /^[A-Za-z0-9]{24}$/);
    for (const s of secrets.values())
      assert.equal(s.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
  });
});
