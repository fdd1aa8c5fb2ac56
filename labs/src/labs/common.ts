import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, LabContext } from '../lab';
import { check } from '../lab';
import { waitForAlert } from '../prometheus';
import type { RequestSpec, Sample } from '../measure';
import { request } from '../measure';

/** POST /v1/orders for a customer of its own (credit never runs out) and the large-stock product. */
export const placeOrderSpec = (lab: string): RequestSpec => ({
  method: 'POST',
  path: '/v1/orders',
  body: { customerId: `lab-${lab}-${randomUUID().slice(0, 8)}`, items: [{ sku: 'SKU-0001', quantity: 1 }] },
});

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
      const r = await request(ctx.platform.edge, { method: 'GET', path: `/v1/orders/${id}` });
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
