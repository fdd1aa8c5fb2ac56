// What the console reads, at the HTTP level, against a real issuer, the real backends and the gateway: the order
// event stream (GET /v1/orders/{id}/events, from WatchOrder), the operator routes under /v1/admin, the lab reports on
// the gateway's admin port, the console's own files and config, and a stop that does not wait for open streams.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Identity, TestIssuer } from '@shop/testkit';
import { testIssuer } from '@shop/testkit';
import { startPlatform } from './browser/platform';
import type { Platform } from './browser/platform';
import { startGateway } from './support';
import type { RunningGateway } from './support';

let issuer: TestIssuer;
let platform: Platform;
let gateway: RunningGateway;
let alice: Identity;
let operator: Identity;

before(async () => {
  issuer = await testIssuer();
  const auth = { AUTH_MODE: 'oidc', OIDC_ISSUER: issuer.url };
  platform = await startPlatform(auth);
  gateway = await startGateway({
    ...platform.addresses,
    deadlineMs: 5000,
    env: {
      ...auth,
      ADMIN_PORT: '0',
      TRACES_UI_URL: 'http://127.0.0.1:9411/zipkin/',
      FAULT_ADMIN_URLS: `orders=${platform.adminUrls.orders},inventory=${platform.adminUrls.inventory}`,
    },
  });
  alice = issuer.client.customer('events');
  operator = issuer.client.operator();
});

after(async () => {
  await gateway?.stop();
  await platform?.stop();
  await issuer?.stop();
});

const json = { 'content-type': 'application/json' };

async function place(who: Identity, items: { sku: string; quantity: number }[]): Promise<string> {
  const res = await fetch(`${gateway.url}/v1/orders`, {
    method: 'POST',
    headers: { ...json, ...(await who.headers()) },
    body: JSON.stringify({ items }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/** Reads server-sent events until `stop` says so or the stream ends; bounded by `ms`. */
async function readEvents(res: Response, stop: (f: Frame) => boolean, ms = 20_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => void reader.cancel(), ms);
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return frames;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(raw)?.[1] ?? '';
        const data = JSON.parse(/^data: (.*)$/m.exec(raw)?.[1] ?? 'null') as Record<string, unknown>;
        frames.push({ event, data });
        if (stop({ event, data })) {
          await reader.cancel();
          return frames;
        }
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

const statusOf = (f: Frame) => (f.data.order as { status?: string } | undefined)?.status;
const sagaOf = (f: Frame) => (f.data.saga as { step?: string } | null | undefined)?.step;

describe('GET /v1/orders/{id}/events', () => {
  it('needs a token (401 with WWW-Authenticate)', async () => {
    const res = await fetch(`${gateway.url}/v1/orders/00000000-0000-4000-8000-000000000000/events`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="shop-api"/);
  });

  it('pushes the order and each saga step until APPROVED and done', async () => {
    const id = await place(alice, [{ sku: 'SKU-0001', quantity: 1 }]);
    const res = await fetch(`${gateway.url}/v1/orders/${id}/events`, { headers: await alice.headers() });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const frames = await readEvents(res, (f) => statusOf(f) === 'APPROVED' && sagaOf(f) === 'DONE');
    assert.ok(frames.every((f) => f.event === 'order'));
    assert.equal(statusOf(frames.at(-1)!), 'APPROVED');
    assert.deepEqual(frames.at(-1)!.data.steps, [
      { step: 'RESERVE_STOCK', state: 'done' },
      { step: 'AUTHORIZE_PAYMENT', state: 'done' },
      { step: 'COMMIT_STOCK', state: 'done' },
    ]);
    // One event per change (a status or a saga step), in the saga's order.
    const changes = frames.map((f) => `${statusOf(f)} ${sagaOf(f)}`);
    assert.deepEqual(changes, [...new Set(changes)]);
    const order = ['RESERVE_STOCK', 'AUTHORIZE_PAYMENT', 'COMMIT_STOCK', 'DONE'];
    const at = frames.map((f) => order.indexOf(sagaOf(f) ?? ''));
    assert.ok(
      at.every((v, i) => v >= 0 && (i === 0 || v > (at[i - 1] ?? -1))),
      `steps out of order: ${changes.join(', ')}`,
    );
  });

  it('ends after a rejection, with the failed step named', async () => {
    // SKU-0012 has no stock: the saga rejects the order (OUT_OF_STOCK) at its first step.
    const id = await place(alice, [{ sku: 'SKU-0012', quantity: 1 }]);
    const res = await fetch(`${gateway.url}/v1/orders/${id}/events`, { headers: await alice.headers() });
    const frames = await readEvents(res, () => false);
    const last = frames.at(-1)!;
    assert.equal(last.event, 'end');
    assert.deepEqual(last.data, { status: 'REJECTED' });
    const rejected = frames.at(-2)!;
    assert.equal(statusOf(rejected), 'REJECTED');
    assert.deepEqual(
      (rejected.data.steps as { state: string }[]).map((s) => s.state),
      ['failed', 'skipped', 'skipped'],
    );
  });

  it("is another customer's 404, and the operator's to watch", async () => {
    const id = await place(alice, [{ sku: 'SKU-0003', quantity: 1 }]);
    const bob = issuer.client.customer('events-other');
    const refused = await fetch(`${gateway.url}/v1/orders/${id}/events`, { headers: await bob.headers() });
    assert.equal(refused.status, 404);
    assert.match(refused.headers.get('content-type') ?? '', /problem\+json/);
    const res = await fetch(`${gateway.url}/v1/orders/${id}/events`, { headers: await operator.headers() });
    assert.equal(res.status, 200);
    const frames = await readEvents(res, (f) => statusOf(f) === 'APPROVED');
    assert.equal(statusOf(frames.at(-1)!), 'APPROVED');
  });

  it('does not hold up a stop of the gateway', async () => {
    const other = await startGateway({
      ...platform.addresses,
      env: { AUTH_MODE: 'oidc', OIDC_ISSUER: issuer.url },
    });
    const id = await place(alice, [{ sku: 'SKU-0003', quantity: 1 }]);
    const res = await fetch(`${other.url}/v1/orders/${id}/events`, { headers: await alice.headers() });
    assert.equal(res.status, 200);
    const reading = readEvents(res, () => false, 30_000);
    const started = Date.now();
    await other.stop();
    await reading.catch(() => undefined);
    // An APPROVED order's stream stays open (it may still be cancelled): only the stop ended it.
    assert.ok(Date.now() - started < 10_000, `stop took ${Date.now() - started} ms`);
  });
});

describe('the operator routes', () => {
  it('refuse a customer (403) and a missing token (401)', async () => {
    for (const path of ['/v1/admin/faults', '/v1/admin/labs', '/v1/admin/sagas/parked']) {
      assert.equal(
        (await fetch(`${gateway.url}${path}`, { headers: await alice.headers() })).status,
        403,
        path,
      );
      assert.equal((await fetch(`${gateway.url}${path}`)).status, 401, path);
    }
  });

  it('list and switch the faults of every configured service', async () => {
    const h = { ...json, ...(await operator.headers()) };
    const list = async () =>
      (await (await fetch(`${gateway.url}/v1/admin/faults`, { headers: h })).json()) as {
        items: { service: string; reachable: boolean; active: { name: string }[]; available: unknown[] }[];
      };
    const before = await list();
    assert.deepEqual(
      before.items.map((s) => [s.service, s.reachable]),
      [
        ['orders', true],
        ['inventory', true],
      ],
    );
    assert.ok(before.items[0]!.available.length > 5);
    const on = await fetch(`${gateway.url}/v1/admin/faults/orders/grpc-server-latency`, {
      method: 'PUT',
      headers: h,
      body: JSON.stringify({ fixedMs: 1 }),
    });
    assert.equal(on.status, 200);
    assert.deepEqual(
      (await list()).items.find((s) => s.service === 'orders')!.active.map((f) => f.name),
      ['grpc-server-latency'],
    );
    const off = await fetch(`${gateway.url}/v1/admin/faults/orders/grpc-server-latency`, {
      method: 'DELETE',
      headers: await operator.headers(),
    });
    assert.equal(off.status, 200);
    assert.deepEqual(await off.json(), {
      name: 'grpc-server-latency',
      wasActive: true,
      active: false,
    });
    assert.deepEqual((await list()).items.find((s) => s.service === 'orders')!.active, []);
  });

  it('answer bad fault parameters with the service’s 400, naming the parameter, and unknown services with 404', async () => {
    const h = { ...json, ...(await operator.headers()) };
    const bad = await fetch(`${gateway.url}/v1/admin/faults/orders/grpc-server-latency`, {
      method: 'PUT',
      headers: h,
      body: JSON.stringify({ fixedMs: -1 }),
    });
    assert.equal(bad.status, 400);
    const p = (await bad.json()) as { errors: { field: string }[] };
    assert.ok(
      p.errors.some((e) => e.field.includes('fixedMs')),
      JSON.stringify(p),
    );
    const unknown = await fetch(`${gateway.url}/v1/admin/faults/payments/grpc-server-latency`, {
      method: 'PUT',
      headers: h,
      body: '{}',
    });
    assert.equal(unknown.status, 404);
  });

  it("list orders' parked sagas", async () => {
    const res = await fetch(`${gateway.url}/v1/admin/sagas/parked`, { headers: await operator.headers() });
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(((await res.json()) as { items: unknown }).items));
  });

  it("show the lab the runner reports on the gateway's admin port", async () => {
    const admin = `http://127.0.0.1:${gateway.service.ports.admin}/labs/current`;
    const bad = await fetch(admin, { method: 'PUT', headers: json, body: JSON.stringify({ phase: '' }) });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      ((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field),
      ['lab', 'phase', 'state'],
    );
    const report = {
      lab: 'kafka-lag',
      title: 'Consumer lag',
      phase: 'observe',
      state: 'running',
      phases: [
        { phase: 'break', ok: true, ms: 1200 },
        { phase: 'observe', ok: null, ms: null },
      ],
    };
    assert.equal(
      (await fetch(admin, { method: 'PUT', headers: json, body: JSON.stringify(report) })).status,
      200,
    );
    const res = await fetch(`${gateway.url}/v1/admin/labs`, { headers: await operator.headers() });
    const { current } = (await res.json()) as { current: Record<string, unknown> };
    assert.equal(current.lab, 'kafka-lag');
    assert.equal(current.phase, 'observe');
    assert.deepEqual(current.phases, report.phases);
  });
});

describe('the console', () => {
  it('serves its page, modules, config and /docs (no token needed)', async () => {
    const page = await fetch(`${gateway.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /<main id="main"/);
    const mod = await fetch(`${gateway.url}/console/app.js`);
    assert.match(mod.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${gateway.url}/console/nope.js`)).status, 404);
    const config = (await (await fetch(`${gateway.url}/console/config.json`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(config, {
      authMode: 'oidc',
      issuer: issuer.url,
      clientId: 'shop-console',
      tracesUiUrl: 'http://127.0.0.1:9411/zipkin',
      metricsUiUrl: null,
    });
    assert.equal((await fetch(`${gateway.url}/docs`)).status, 200);
    const bundle = await fetch(`${gateway.url}/docs/swagger-ui-bundle.js`);
    assert.equal(bundle.status, 200);
    assert.ok((await bundle.arrayBuffer()).byteLength > 100_000);
    assert.equal((await fetch(`${gateway.url}/docs`, { method: 'POST' })).status, 405);
  });
});
