import { setTimeout as sleep } from 'node:timers/promises';
import type { Identity } from '@shop/testkit';
import type { Check, LabContext } from '../lab';
import { check } from '../lab';
import { waitForAlert } from '../prometheus';
import type { Auth, RequestSpec, Sample } from '../measure';
import { request } from '../measure';

/** A new customer's credit (CREDIT_LIMIT_CENTS, 100 000 cents) holds 50 orders of SKU-0001 (1 999): 40 leaves a margin. */
const ORDERS_PER_CUSTOMER = 40;

type Rotation = Map<string, { customer: Identity; uses: number }>;
const rotations = new WeakMap<object, Rotation>();

/**
 * A customer of this lab (`lab-<lab>-<random>`, registered at the platform's issuer and signed in on first use), a
 * new one every `perCustomer` orders so that credit never runs out.
 */
export function labCustomer(ctx: LabContext, lab: string, perCustomer = ORDERS_PER_CUSTOMER): Identity {
  let byLab = rotations.get(ctx.platform);
  if (!byLab) {
    byLab = new Map() as Rotation;
    rotations.set(ctx.platform, byLab);
  }
  let slot = byLab.get(lab);
  if (!slot || slot.uses >= perCustomer) {
    slot = { customer: ctx.platform.identity.customer(`lab-${lab}`), uses: 0 };
    byLab.set(lab, slot);
  }
  slot.uses += 1;
  return slot.customer;
}

/** The platform's operator (`ops`): reads any order and payment, cancels any order. */
export const operator = (ctx: LabContext): Auth => ctx.platform.identity.operator();

/** POST /v1/orders of the large-stock product by a customer of the lab, with that customer's token. */
export function placeOrderSpec(ctx: LabContext, lab: string): RequestSpec {
  const customer = labCustomer(ctx, lab);
  return {
    method: 'POST',
    path: '/v1/orders',
    body: { customerId: customer.customerId, items: [{ sku: 'SKU-0001', quantity: 1 }] },
    auth: customer,
  };
}

export const orderIdOf = (s: Sample): string | undefined =>
  s.status === 201 ? (s.body as { id?: string } | undefined)?.id : undefined;

/** Polls GET /v1/orders/<id> at the edge until every order leaves PENDING or `timeoutMs` passes. */
export async function finalStatuses(
  ctx: LabContext,
  ids: string[],
  timeoutMs: number,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && out.size < ids.length) {
    for (const id of ids) {
      if (out.has(id)) continue;
      const r = await request(ctx.platform.edge, {
        method: 'GET',
        path: `/v1/orders/${id}`,
        auth: operator(ctx),
      });
      const body = r.body as { status?: string; rejectionReason?: string | null } | undefined;
      if (r.status === 200 && body?.status && body.status !== 'PENDING')
        out.set(id, body.rejectionReason ? `${body.status}/${body.rejectionReason}` : body.status);
    }
    if (out.size < ids.length) await sleep(300);
  }
  for (const id of ids) if (!out.has(id)) out.set(id, 'PENDING');
  return out;
}

export function countBy(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
export const sec = (x: number) => (Number.isNaN(x) ? 'no data' : `${x.toFixed(2)} s`);

/**
 * The project's own alert, evaluated by the platform's Prometheus (observability/prometheus/rules): a check that
 * it went pending (its expression holds; it fires after its `for:`) or firing since this run's break, over this
 * run's samples (the runner gives its own Prometheus a fresh TSDB at each break). Without a Prometheus there is no
 * check, and the narration says so (the labs test requires one, so CI always grades it).
 */
export async function alertCheck(
  ctx: LabContext,
  alert: string,
  opts: { labels?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Check[]> {
  const prom = ctx.platform.prometheus;
  if (!prom) {
    ctx.say(`alert ${alert}: not evaluated (no Prometheus beside this platform)`);
    return [];
  }
  const found = await waitForAlert(prom, alert, {
    since: ctx.brokenAt,
    timeoutMs: opts.timeoutMs ?? 20_000,
    labels: opts.labels,
  });
  const selector = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const name = `${alert}${selector ? `{${selector}}` : ''}`;
  if (!found) {
    // What Prometheus did see, for the person (and the log) reading a miss.
    const active = (await prom.alerts().catch(() => [])).map((a) => `${a.name}(${a.state})`);
    const targets = (await prom.targets().catch(() => []))
      .map(
        (t) =>
          `${t.job}@${t.instance} ${t.health} ${(t.lastScrapeDuration * 1000).toFixed(0)} ms${t.lastError ? ` (${t.lastError})` : ''}`,
      )
      .join('; ');
    ctx.say(`Prometheus: active alerts ${active.join(', ') || 'none'}; targets ${targets || 'none'}`);
  }
  ctx.say(
    `the page: ${prom.url}/alerts ${name} ${found ? `${found.state} since ${new Date(found.activeAt).toISOString()} (value ${found.value.toPrecision(3)})` : 'not active'}`,
  );
  return [
    check(
      `Prometheus alert ${name} (project rule)`,
      'pending or firing',
      found ? `${found.state} (value ${found.value.toPrecision(3)})` : 'inactive',
      found !== undefined,
    ),
  ];
}

/** Verify's "orders placed reach APPROVED" over the final statuses of the orders a phase placed (finalStatuses). */
export function approvedCheck(final: Map<string, string>, minShare = 0.95): Check {
  const approved = [...final.values()].filter((s) => s === 'APPROVED').length;
  return check(
    'orders placed reach APPROVED',
    `>= ${Math.round(minShare * 100)}%`,
    `${approved}/${final.size} ${JSON.stringify(countBy(final.values()))}`,
    final.size > 0 && approved / final.size >= minShare,
  );
}
