// Incident scenario 3, "service discovery outage": a dependency is rescheduled (new address), the discovery system
// knows the new endpoint, but the caller keeps the one it cached ("sidecar proxies had outdated service discovery
// information", "service registration TTLs were set too high"). Local analogue: inventory is reached through an
// endpoint (a TCP forwarder standing for a pod IP) listed in a discovery file; orders reads it with a 5 min TTL.
// Fix: the TTL sized to follow a move (DISCOVERY_REFRESH_MS=1000): product configuration of the file resolver.
import { writeFileSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, drive, fmtSummary, request, summarize } from '../measure';
import { alertCheck, approvedCheck, finalStatuses, orderIdOf, pct, placeOrderSpec } from './common';

const ID = 'discovery-outage';
const STALE = { DISCOVERY_REFRESH_MS: '300000' };
const FIXED = { DISCOVERY_REFRESH_MS: '1000' };

interface Endpoint {
  port: number;
  server: Server;
  sockets: Set<Socket>;
}

/** An endpoint of inventory: what a pod IP is on a cluster (a forwarder to inventory's gRPC port). */
async function openEndpoint(port: number, target: number): Promise<Endpoint> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { port, server, sockets };
}

/** The pod is gone: nothing listens on its address any more, its connections are reset. */
async function closeEndpoint(e: Endpoint | undefined): Promise<void> {
  if (!e) return;
  const closed = new Promise<void>((resolve) => e.server.close(() => resolve()));
  for (const s of e.sockets) s.destroy();
  await closed;
}

const fileOf = (ctx: LabContext) =>
  join(tmpdir(), `shop-lab-discovery-${ctx.platform.ports.gateway.http}.txt`);
// Free ports of the platform's own range (base + 14..16; the services use +0..+3, +11..+13, +20..+23).
const portOf = (ctx: LabContext, i: number) => ctx.platform.ports.gateway.http + 14 + i;

/** inventory moves to endpoint i: the new one serves, the discovery file lists it, the old one is gone. */
async function move(ctx: LabContext, i: number) {
  const next = await openEndpoint(portOf(ctx, i), ctx.platform.ports.inventory.grpc);
  writeFileSync(
    fileOf(ctx),
    `# inventory endpoints (written by the discovery system)\n127.0.0.1:${next.port}\n`,
  );
  await closeEndpoint(ctx.state.endpoint as Endpoint | undefined);
  ctx.state.endpoint = next;
  ctx.say(`inventory moved to 127.0.0.1:${next.port}; ${fileOf(ctx)} lists it; the old endpoint is gone`);
}

/** orders in service: its channel to inventory is connected (a channel resolves on its first call). */
async function warm(ctx: LabContext) {
  const r = await Promise.all([1, 2].map(() => request(ctx.platform.edge, placeOrderSpec(ctx, ID))));
  ctx.say(`orders serving: POST /v1/orders ${r.map((x) => x.status).join(', ')}`);
}

async function load(ctx: LabContext, seconds: number) {
  const before = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  const samples = await drive(ctx.platform.edge, {
    durationMs: seconds * 1000,
    ratePerSecond: 3,
    maxInFlight: 12,
    next: () => placeOrderSpec(ctx, ID),
  });
  const after = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  const post = summarize(samples);
  ctx.say(`POST /v1/orders: ${fmtSummary(post)}`);
  return {
    samples,
    post,
    edge5xx: delta(before.gateway, after.gateway, 'http_requests_total', {
      route: '/v1/orders',
      method: 'POST',
      status_code: /^5/,
    }),
    quoteUnavailable: delta(before.orders, after.orders, 'grpc_client_handled_total', {
      grpc_method: 'QuoteItems',
      grpc_code: 'UNAVAILABLE',
    }),
  };
}

export const discoveryOutage: Lab = {
  id: ID,
  title:
    'A dependency moved; the caller keeps its stale address until the discovery TTL is sized to follow it',
  source: {
    document: 'seed',
    ref: 'scenario 3',
    title: 'Service discovery failure in a microservices architecture',
  },
  runsOn: ['local'],
  durationS: 25,
  restarts: true,
  async break(ctx) {
    // orders finds inventory through discovery (the file a discovery agent keeps), trusting what it read for 5 min.
    await move(ctx, 0);
    await ctx.platform.restart('orders', { INVENTORY_ADDR: `file:${fileOf(ctx)}`, ...STALE });
    await warm(ctx);
    // The routine infrastructure update: inventory is rescheduled; registration is right, the caller's cache is not.
    await move(ctx, 1);
    await sleep(500);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx, 5);
    const checks = [
      check(
        'POST /v1/orders answered 201 at the edge',
        '<= 20% (inventory unreachable at the cached address)',
        `${pct(m.post.okRate)} ${JSON.stringify(m.post.statuses)}`,
        m.post.okRate <= 0.2,
      ),
      check(
        'gateway http_requests_total{route="/v1/orders",method="POST",status_code=~"5.."}',
        'increases',
        `+${m.edge5xx}`,
        m.edge5xx > 0,
      ),
      check(
        'orders grpc_client_handled_total{grpc_method="QuoteItems",grpc_code="UNAVAILABLE"}',
        'increases',
        `+${m.quoteUnavailable}`,
        m.quoteUnavailable > 0,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [...checks, ...(await alertCheck(ctx, 'GatewayHighErrorRate'))];
  },
  async fix(ctx) {
    // The TTL of the discovery cache sized to the rate endpoints move at: re-read every second (and on a refused
    // connection once the second has passed). The restart picks the current endpoint up; verify moves it again.
    await ctx.platform.restart('orders', { INVENTORY_ADDR: `file:${fileOf(ctx)}`, ...FIXED });
  },
  async verify(ctx): Promise<Check[]> {
    // A second rescheduling, with no restart of orders: it must follow the discovery file by itself.
    await warm(ctx);
    await move(ctx, 2);
    await sleep(1500);
    const m = await load(ctx, 5);
    const ids = m.samples.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 20_000);
    return [
      check(
        'POST /v1/orders answered 201 at the edge after inventory moved again',
        '>= 90%',
        `${pct(m.post.okRate)} ${JSON.stringify(m.post.statuses)}`,
        m.post.okRate >= 0.9,
      ),
      check(
        'orders QuoteItems UNAVAILABLE (grpc_client_handled_total)',
        '<= 2',
        `+${m.quoteUnavailable}`,
        m.quoteUnavailable <= 2,
      ),
      approvedCheck(final),
    ];
  },
  async reset(ctx) {
    // The runner restarts orders on its baseline address; the forwarders and the file go.
    await closeEndpoint(ctx.state.endpoint as Endpoint | undefined);
    ctx.state.endpoint = undefined;
    rmSync(fileOf(ctx), { force: true });
  },
};
