// Incident scenario 8, "a Consul upgrade broke service registration": the new version enforced ACLs, registration
// failed for lack of permission, and nothing at the front said so. Consul is not in this stack; the analogue is the
// broker the sagas register their steps with: an upgrade switches ACL enforcement on and orders' principal has no
// WRITE on inventory.commands.v1. The edge still answers 201 (the order is written with its outbox row), the saga
// never starts, the outbox backlog ages. The product's defence is that the relay does not swallow the error: rows
// stay until the broker acknowledges them. Fix: the ACL granted; the kept messages flow, no order is lost.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, request, sumOf } from '../measure';
import { countBy, finalStatuses, operator, orderIdOf, placeOrderSpec } from './common';

const ID = 'broker-acl';
const ORDERS = 5;
const DENIED = { topic: 'inventory.commands.v1' };

async function place(ctx: LabContext, n: number): Promise<string[]> {
  const placed = await Promise.all(
    Array.from({ length: n }, () => request(ctx.platform.edge, placeOrderSpec(ctx, ID))),
  );
  return placed.map(orderIdOf).filter((x): x is string => x !== undefined);
}

/** The outbox gauges, sampled by orders every 5 s: scraped until `until` holds or `timeoutMs` passes. */
async function outbox(
  ctx: LabContext,
  until: (o: { pending: number; age: number }) => boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await sleep(1000);
    const m = await ctx.metrics('orders');
    const o = {
      pending: sumOf(m, 'outbox_pending_messages'),
      age: sumOf(m, 'outbox_oldest_pending_age_seconds'),
      series: m,
    };
    if (until(o) || Date.now() >= deadline) return o;
  }
}

export const brokerAcl: Lab = {
  id: ID,
  title:
    'Broker ACLs enforced after an upgrade: sagas never start, the outbox keeps every message until granted',
  source: {
    document: 'seed',
    ref: 'scenario 8',
    title: 'Service discovery upgrade (Consul ACL enforcement) breaking registration',
  },
  runsOn: ['local'],
  durationS: 15,
  restarts: false,
  async break(ctx) {
    ctx.state.before = await ctx.metrics('orders');
    ctx.state.since = Date.now();
    await ctx.setFault('orders', 'kafka-acl-denied', DENIED);
  },
  async observe(ctx): Promise<Check[]> {
    const ids = await place(ctx, ORDERS);
    ctx.state.outageIds = ids;
    const o = await outbox(ctx, (x) => x.pending >= ORDERS && x.age >= 3, 11_000);
    const statuses = await Promise.all(
      ids.map(async (id) => {
        const r = await request(ctx.platform.edge, {
          method: 'GET',
          path: `/v1/orders/${id}`,
          auth: operator(ctx),
        });
        return (r.body as { status?: string } | undefined)?.status ?? `HTTP ${r.status}`;
      }),
    );
    const pending = statuses.filter((s) => s === 'PENDING').length;
    const failures = delta(ctx.state.before as [], o.series, 'outbox_publish_failures_total', {
      topic: DENIED.topic,
    });
    const checks = [
      check(
        'POST /v1/orders answered 201 at the edge (the failure is silent there)',
        `${ORDERS}`,
        `${ids.length}`,
        ids.length === ORDERS,
      ),
      check(
        'orders still PENDING (GET /v1/orders/<id>, once the backlog is 3 s old)',
        `${ORDERS} of ${ORDERS}`,
        JSON.stringify(countBy(statuses)),
        ids.length === ORDERS && pending === ORDERS,
      ),
      check('orders outbox_pending_messages', `>= ${ORDERS}`, String(o.pending), o.pending >= ORDERS),
      check('orders outbox_oldest_pending_age_seconds', '>= 3 s', `${o.age.toFixed(1)} s`, o.age >= 3),
      check(
        `orders outbox_publish_failures_total{topic="${DENIED.topic}"}`,
        'increases',
        `+${failures}`,
        failures > 0,
      ),
    ];
    const logs = ctx.platform.logs('orders', ctx.state.since as number);
    if (logs) {
      const denied = logs.filter(
        (l) =>
          l.json?.msg === 'outbox publish failed, will retry' &&
          String(l.json.err).includes('Not authorized'),
      );
      checks.push(
        check(
          'orders log "outbox publish failed, will retry" with "Not authorized to access topics"',
          '>= 1 line',
          `${denied.length} lines${denied[0] ? `: ${String(denied[0].json?.err).slice(0, 80)}` : ''}`,
          denied.length > 0,
        ),
      );
    }
    return checks;
  },
  async fix(ctx) {
    // The broker's ACL granted (kafka-acls --add --allow-principal User:orders --operation Write --topic
    // inventory.commands.v1): here, the broker stops refusing. Nothing is replayed by hand: the outbox kept it all.
    await ctx.clearFault('orders', 'kafka-acl-denied');
  },
  async verify(ctx): Promise<Check[]> {
    const outageIds = (ctx.state.outageIds as string[] | undefined) ?? [];
    const newIds = await place(ctx, 3);
    const final = await finalStatuses(ctx, [...outageIds, ...newIds], 12_000);
    const outage = outageIds.map((id) => final.get(id) ?? 'PENDING');
    const fresh = newIds.map((id) => final.get(id) ?? 'PENDING');
    const o = await outbox(ctx, (x) => x.pending === 0, 5000);
    return [
      check(
        'orders placed while denied reach APPROVED (none lost)',
        `${outageIds.length} of ${outageIds.length}`,
        JSON.stringify(countBy(outage)),
        outageIds.length > 0 && outage.every((s) => s === 'APPROVED'),
      ),
      check(
        'new orders reach APPROVED',
        `${newIds.length} of 3`,
        JSON.stringify(countBy(fresh)),
        newIds.length === 3 && fresh.every((s) => s === 'APPROVED'),
      ),
      check('orders outbox_pending_messages', '0', String(o.pending), o.pending === 0),
      check('orders outbox_oldest_pending_age_seconds', '< 3 s', `${o.age.toFixed(1)} s`, o.age < 3),
    ];
  },
  async reset() {
    // The runner turns the fault off (the ACL granted) if verify ran without the fix.
  },
};
