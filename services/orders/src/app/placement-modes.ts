// The two legacy ways of placing an order, kept as faults (off by default) for the chatty-chain lab (incident
// scenario 2): each turns a per-hop cost (a sidecar's few milliseconds) into a cost per order line or per saga step.
import { requestContext } from '@shop/platform';
import { DomainError } from '../domain/errors';
import type { Order } from '../domain/order';
import type { OrderChangeHub } from '../adapters/db/order-changes';
import type { AppDeps, InventoryPort } from './deps';
import { watchOrder } from './watch-order';

type Quote = Awaited<ReturnType<InventoryPort['quote']>>;

/**
 * The price quote of a new order: one QuoteItems call for all of its lines. `order-chatty` is the N+1 client: one
 * call per line, one after the other, so every hop's latency is paid once per line.
 */
export async function quoteItems(
  deps: Pick<AppDeps, 'inventory' | 'faults'>,
  items: { sku: string; quantity: number }[],
): Promise<Quote> {
  if (!deps.faults?.hit('order-chatty')) return deps.inventory.quote(items);
  const lines: Quote['lines'] = [];
  let currency: string | undefined;
  for (const item of items) {
    const q = await deps.inventory.quote([item]);
    if (currency !== undefined && q.currency !== currency)
      throw new DomainError(
        'INVENTORY_QUOTE_INVALID',
        'inventory quoted the lines of one order in two currencies',
      );
    currency = q.currency;
    lines.push(...q.lines);
  }
  return { lines, currency: currency ?? '' };
}

/**
 * Time kept between the end of the hold and the caller's deadline (at least REPLY_MARGIN_MS, or a fifth of what was
 * left when the hold began), so that the answer, the order as it is then, reaches the caller on a busy machine too,
 * instead of a DEADLINE_EXCEEDED for an order that exists.
 */
export const REPLY_MARGIN_MS = 250;
const marginOf = (remainingMs: number) => Math.max(REPLY_MARGIN_MS, remainingMs / 5);

/**
 * `order-sync-chain`: the answer to PlaceOrder waits until the saga has decided the order (it left PENDING), so the
 * caller holds gateway -> orders and, behind it, every saga step. Bounded by `maxWaitMs` and the incoming deadline;
 * at the bound the order is answered as it is (PENDING): the caller learns the truth, rather than a timeout for an
 * order that was created. Without the fault: the order as placed (PENDING), at once.
 */
export async function holdUntilDecided(
  deps: Pick<AppDeps, 'pool' | 'faults' | 'logger'>,
  hub: OrderChangeHub,
  order: Order,
): Promise<Order> {
  const p = deps.faults?.hit('order-sync-chain');
  if (!p) return order;
  const deadline = requestContext.getStore()?.deadline;
  const now = Date.now();
  const until = Math.min(
    now + p.maxWaitMs,
    deadline === undefined ? Infinity : deadline - marginOf(deadline - now),
  );
  let latest = order;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), Math.max(0, until - Date.now()));
  try {
    await watchOrder(
      deps,
      hub,
      order.id,
      ({ order: o }) => {
        latest = o;
        if (o.status !== 'PENDING') stop.abort();
      },
      stop.signal,
    );
  } catch (err) {
    // The order is committed whatever the watch did (too many watchers, a database error): it is answered as last seen.
    deps.logger.warn({ orderId: order.id, err: (err as Error).message }, 'sync-chain hold ended early');
  } finally {
    clearTimeout(timer);
  }
  return latest;
}
