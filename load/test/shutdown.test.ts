// The documented stop order (docs/architecture.md, "Service runtime"), from outside: the four services as their own
// processes, an order being placed through the REST edge when every one of them gets SIGTERM at once (a rolling
// update of everything, `kubectl delete`). With the drain delay a Deployment runs with (not ready first, serving on
// while the endpoint is dropped), each service drains what it has accepted before closing what that work needs: the
// POST is answered 201, not 503, and the saga goes on when the services are back.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { eventually, testIssuer } from '@shop/testkit';
import type { TestIssuer } from '@shop/testkit';
import { Rest } from '../src/lib';
import type { Stack } from './stack';
import { startStack, stopService } from './stack';

// orders holds PlaceOrder 1.5 s before handling it: SIGTERM arrives while the call is in the gateway and in orders,
// and orders asks inventory for its quote only during the drain.
const HELD = { 'grpc-server-latency': { service: 'orders', method: 'PlaceOrder', fixedMs: 1500 } };
const DRAIN = { SHUTDOWN_DRAIN_DELAY_MS: '3000', SHUTDOWN_TIMEOUT_MS: '20000' };

interface Placed {
  id?: string;
  status?: string;
}

describe('SIGTERM to every service while an order is being placed', () => {
  let first: Stack | undefined;
  let second: Stack | undefined;
  // One issuer for both stacks: the customer's token is good before and after the restart.
  let issuer: TestIssuer | undefined;
  after(async () => {
    await first?.stop();
    await second?.stop();
    await issuer?.stop();
  });

  it('answers the POST 201, every service exits 0, and the order is APPROVED once they are back', async () => {
    issuer = await testIssuer();
    const customer = issuer.client.customer('shutdown');
    await customer.token();
    first = await startStack({ ...DRAIN, FAULTS: JSON.stringify(HELD) }, { issuer });
    const placing = new Rest(first.gateway, customer).call<Placed>('POST', '/v1/orders', {
      customerId: customer.customerId,
      items: [{ sku: 'SKU-0001', quantity: 1 }],
    });
    await sleep(500);
    const { gateway, orders, inventory, payments } = first.services;
    const stopping = Promise.all([gateway, orders, inventory, payments].map((s) => stopService(s, 30_000)));
    const placed = await placing;
    const codes = await stopping;
    first = undefined;
    assert.equal(placed.status, 201, `POST /v1/orders during the stop: ${JSON.stringify(placed.body)}`);
    assert.equal(placed.body.status, 'PENDING');
    assert.deepEqual(codes, [0, 0, 0, 0], 'gateway, orders, inventory and payments exit 0 after their drain');

    // The order was stored with its outbox messages; the services back (no fault) carry its saga on.
    second = await startStack({}, { issuer });
    const rest = new Rest(second.gateway, customer);
    const id = placed.body.id ?? '';
    const final = await eventually(
      async () => {
        const r = await rest.call<Placed>('GET', `/v1/orders/${id}`);
        return r.status === 200 && r.body.status !== 'PENDING' ? r.body.status : undefined;
      },
      { what: `order ${id} decided after the restart`, timeoutMs: 60_000 },
    );
    assert.equal(final, 'APPROVED');
  });
});
