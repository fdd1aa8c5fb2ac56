// Issue 11 at the REST edge, against the real issuer, orders, inventory and payments: who may read, list, cancel and
// spend as whom; which tokens are refused with 401; what an operator sees; a rotated key without a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyServer } from '@shop/testkit';
import {
  IdentityClient,
  eventually,
  foreignToken,
  keyServer,
  uniqueCustomer,
  unsignedToken,
} from '@shop/testkit';
import type { OrderView, PaymentView } from '../src/domain/model';
import type { Answer, RunningGateway } from './support';
import { call, capturingLogger, currentIssuer, startGateway, tokenOf, upstreamCalls } from './support';
import type { Stack } from './stack';
import { startBackends } from './stack';

const PROBLEM = 'https://errors.cloud-native-shop.dev/';

let stack: Stack;
let gw: RunningGateway;

before(async () => {
  stack = await startBackends();
  gw = await startGateway(stack.addresses);
});
after(async () => {
  await gw?.stop();
  await stack?.stop();
});

function assertUnauthenticated(a: Answer, tokenSent: boolean): void {
  assert.equal(a.status, 401, a.text);
  assert.match(a.contentType, /^application\/problem\+json/);
  assert.equal(a.body.type, `${PROBLEM}unauthenticated`);
  const challenge = a.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="shop-api"/);
  if (tokenSent) assert.match(challenge, /error="invalid_token", error_description="[^"]+"/);
  else assert.doesNotMatch(challenge, /error=/);
}

async function placeAs(token: string, over: Record<string, unknown> = {}) {
  return call<OrderView>(gw.url, 'POST', '/v1/orders', {
    json: { items: [{ sku: 'SKU-0001', quantity: 1 }], ...over },
    token,
  });
}

describe('tokens refused with 401 and WWW-Authenticate, before any service is called', () => {
  const routes: [string, string, unknown?][] = [
    ['POST', '/v1/orders', { items: [{ sku: 'SKU-0001', quantity: 1 }] }],
    ['GET', '/v1/orders'],
    ['GET', '/v1/orders/00000000-0000-4000-8000-000000000000'],
    ['POST', '/v1/orders/00000000-0000-4000-8000-000000000000/cancel'],
    ['GET', '/v1/payments?orderId=00000000-0000-4000-8000-000000000000'],
  ];

  it('no token', async () => {
    for (const [method, path, json] of routes) {
      const before = await upstreamCalls(gw.url);
      assertUnauthenticated(await call(gw.url, method, path, { json, token: null }), false);
      assert.equal(await upstreamCalls(gw.url), before, `${method} ${path} reached a service`);
    }
  });

  it('another scheme, garbage, a foreign key, alg none', async () => {
    const issuer = currentIssuer().url;
    const basic = await call(gw.url, 'GET', '/v1/orders', {
      headers: { authorization: 'Basic YWxpY2U6eA==' },
    });
    assertUnauthenticated(basic, false);
    for (const token of [
      'not-a-jwt',
      await foreignToken(issuer, { sub: 'alice' }),
      unsignedToken(issuer, { sub: 'alice' }),
    ]) {
      const a = await call(gw.url, 'GET', '/v1/orders', { token });
      assertUnauthenticated(a, true);
      assert.ok(!a.text.includes(token), 'the token is never echoed');
    }
  });

  it('the catalogue, the document and the probes stay public', async () => {
    for (const path of ['/v1/products', '/v1/products/SKU-0001', '/openapi.yaml', '/livez', '/metrics'])
      assert.equal((await call(gw.url, 'GET', path, { token: null })).status, 200, path);
  });
});

describe("one customer's token never reaches another's orders or payments", () => {
  let alice: string;
  let bob: string;
  let aliceToken: string;
  let bobToken: string;
  let order: OrderView;

  before(async () => {
    alice = uniqueCustomer('alice');
    bob = uniqueCustomer('bob');
    [aliceToken, bobToken] = [await tokenOf(alice), await tokenOf(bob)];
    const placed = await placeAs(aliceToken);
    assert.equal(placed.status, 201, placed.text);
    order = placed.body;
  });

  it('an order without customerId is the caller’s', () => {
    assert.equal(order.customerId, alice);
  });

  it('spending, listing or reading as another customer: 403, nothing reaches a service', async () => {
    const before = await upstreamCalls(gw.url);
    for (const a of [
      (await placeAs(bobToken, { customerId: alice })) as unknown as Answer,
      await call(gw.url, 'GET', `/v1/orders?customerId=${alice}`, { token: bobToken }),
      await call(gw.url, 'GET', `/v1/payments?customerId=${alice}`, { token: bobToken }),
    ]) {
      assert.equal(a.status, 403, a.text);
      assert.equal(a.body.type, `${PROBLEM}forbidden`);
    }
    assert.equal(await upstreamCalls(gw.url), before);
  });

  it("another's order is 404 to read and to cancel, and stays as it was", async () => {
    const read = await call(gw.url, 'GET', `/v1/orders/${order.id}`, { token: bobToken });
    assert.equal(read.status, 404, read.text);
    assert.equal(read.body.type, `${PROBLEM}not-found`);
    const cancel = await call(gw.url, 'POST', `/v1/orders/${order.id}/cancel`, { token: bobToken });
    assert.equal(cancel.status, 404, cancel.text);
    const mine = await call<OrderView>(gw.url, 'GET', `/v1/orders/${order.id}`, { token: aliceToken });
    assert.equal(mine.status, 200);
    assert.notEqual(mine.body.status, 'CANCELLED');
  });

  it('listing is scoped to the caller', async () => {
    const bobs = await call<{ items: OrderView[] }>(gw.url, 'GET', '/v1/orders', { token: bobToken });
    assert.equal(bobs.status, 200, bobs.text);
    assert.deepEqual(bobs.body.items, []);
    const alices = await call<{ items: OrderView[] }>(gw.url, 'GET', '/v1/orders', { token: aliceToken });
    assert.deepEqual(
      alices.body.items.map((o) => o.id),
      [order.id],
    );
    const pays = await call<{ items: PaymentView[] }>(gw.url, 'GET', `/v1/payments?orderId=${order.id}`, {
      token: bobToken,
    });
    assert.equal(pays.status, 200, pays.text);
    assert.deepEqual(pays.body.items, [], "the payments of another customer's order are not listed");
    const own = await eventually(
      async () => {
        const p = await call<{ items: PaymentView[] }>(gw.url, 'GET', '/v1/payments', { token: aliceToken });
        return p.body.items.length > 0 ? p.body.items : undefined;
      },
      { what: "alice's payment" },
    );
    assert.deepEqual(
      own.map((p) => [p.orderId, p.customerId]),
      [[order.id, alice]],
    );
  });

  it('the operator reads, lists and cancels every order and lists any payments', async () => {
    const ops = await tokenOf();
    const read = await call<OrderView>(gw.url, 'GET', `/v1/orders/${order.id}`, { token: ops });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.body.customerId, alice);
    const byCustomer = await call<{ items: OrderView[] }>(gw.url, 'GET', `/v1/orders?customerId=${alice}`, {
      token: ops,
    });
    assert.deepEqual(
      byCustomer.body.items.map((o) => o.id),
      [order.id],
    );
    const everyone = await call<{ items: OrderView[] }>(gw.url, 'GET', '/v1/orders?limit=100', {
      token: ops,
    });
    assert.equal(everyone.status, 200, everyone.text);
    assert.ok(
      everyone.body.items.some((o) => o.id === order.id),
      "every customer's orders",
    );
    const pays = await call<{ items: PaymentView[] }>(gw.url, 'GET', `/v1/payments?customerId=${alice}`, {
      token: ops,
    });
    assert.equal(pays.status, 200, pays.text);
    const noFilter = await call(gw.url, 'GET', '/v1/payments', { token: ops });
    assert.equal(noFilter.status, 400, 'an operator names an order or a customer');
    const cancel = await call<OrderView>(gw.url, 'POST', `/v1/orders/${order.id}/cancel`, { token: ops });
    assert.equal(cancel.status, 202, cancel.text);
    assert.equal(cancel.body.status, 'CANCELLED');
  });
});

describe('a rotated issuer key', () => {
  it('is accepted without restarting the gateway or the services; the old one too until it expires', async () => {
    const customer = uniqueCustomer('rot');
    const old = await tokenOf(customer);
    assert.equal((await call(gw.url, 'GET', '/v1/orders', { token: old })).status, 200);
    await currentIssuer().rotateKeys();
    // A fresh client: a new sign-in, so a token signed by the new key.
    const client = new IdentityClient(currentIssuer().url);
    const kid = (t: string) =>
      (JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;
    const password = 'rotation-pw-1';
    const fresh = uniqueCustomer('rot');
    await client.register(fresh, password);
    const rotated = await client.token(fresh, password);
    assert.notEqual(kid(rotated), kid(old));
    // Within the JWKS refetch cooldown (1 s) after the last fetch an unknown kid is still refused; then accepted.
    const a = await eventually(
      async () => {
        const r = await call(gw.url, 'GET', '/v1/orders', { token: rotated });
        return r.status === 200 ? r : undefined;
      },
      { what: 'a token of the rotated key accepted', timeoutMs: 10_000, intervalMs: 300 },
    );
    assert.equal(a.status, 200);
    assert.equal((await call(gw.url, 'GET', '/v1/orders', { token: old })).status, 200);
  });
});

describe('claims the real issuer never signs (a key server of the test as the issuer)', () => {
  let keys: KeyServer;
  let edge: RunningGateway;
  before(async () => {
    keys = await keyServer();
    edge = await startGateway({ ...stack.addresses, env: { OIDC_ISSUER: keys.url } });
  });
  after(async () => {
    await edge?.stop();
    await keys?.stop();
  });

  it('expired, another audience, another issuer, not at+jwt: 401 naming why', async () => {
    for (const [token, why] of [
      [await keys.mint({ sub: 'alice' }, { expiresIn: -120 }), /expired/],
      [await keys.mint({ sub: 'alice' }, { audience: 'another-api' }), /not meant for this API/],
      [await keys.mint({ sub: 'alice' }, { issuer: 'http://127.0.0.1:1' }), /another issuer/],
      [await keys.mint({ sub: 'alice' }, { typ: 'JWT' }), /at\+jwt/],
    ] as const) {
      const a = await call(edge.url, 'GET', '/v1/orders', { token });
      assertUnauthenticated(a, true);
      assert.match(a.headers.get('www-authenticate') ?? '', why);
    }
  });

  it('a token only the edge trusts is refused by the backends too (they verify it themselves)', async () => {
    const token = await keys.mint({ sub: 'mallory', roles: ['operator'] });
    // The edge (configured with the key server) lets it through; payments trusts the real issuer only.
    const a = await call(edge.url, 'GET', '/v1/payments?customerId=alice', { token });
    assert.equal(a.status, 401, a.text);
    assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer realm="shop-api"/);
  });
});

describe('AUTH_MODE=open', () => {
  it('serves without a token and warns at start; the backends still verify', async () => {
    const { logger, lines } = capturingLogger();
    const open = await startGateway({
      ...stack.addresses,
      env: { AUTH_MODE: 'open', LOG_LEVEL: 'info' },
      logger,
    });
    try {
      const warn = lines.find((l) => l.code === 'AUTH_OPEN');
      assert.equal(warn?.level, 'warn');
      const missing = await call(open.url, 'POST', '/v1/orders', {
        json: { items: [{ sku: 'SKU-0001', quantity: 1 }] },
        token: null,
      });
      assert.equal(missing.status, 400, 'without a token the body names the customer');
      assert.equal(missing.body.errors[0]?.field, 'customerId');
      // The edge lets it through; orders (AUTH_MODE=oidc here) refuses a call without a token.
      const a = await call(open.url, 'GET', `/v1/orders?customerId=${uniqueCustomer()}`, { token: null });
      assert.equal(a.status, 401, a.text);
    } finally {
      await open.stop();
    }
  });
});
