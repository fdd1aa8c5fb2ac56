import { validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { isTerminal } from '../domain/order';
import { validateOrderId } from '../domain/validation';
import type { OrderChangeHub } from '../adapters/db/order-changes';
import { getOrder } from './get-order';
import type { AppDeps, Caller } from './deps';

/**
 * Sends the current order, then every newer version, until the order is REJECTED or CANCELLED or `signal` aborts.
 * Subscribes before the first read so that no change between the read and the subscription is lost.
 */
export async function watchOrder(
  deps: Pick<AppDeps, 'pool'>,
  hub: OrderChangeHub,
  orderId: string,
  send: (order: Order) => void,
  signal: AbortSignal,
  caller?: Caller,
): Promise<void> {
  const violations = validateOrderId(orderId);
  if (violations.length > 0) throw validationFailed(violations);
  let lastVersion = 0;
  let reading = false;
  let dirty = false;
  let finish: (err?: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (err?: unknown) =>
      err === undefined ? resolve() : reject(err instanceof Error ? err : new Error('watch failed'));
  });
  finished.catch(() => undefined); // awaited below; this only keeps an early failure from counting as unhandled
  const refresh = async () => {
    if (reading) {
      dirty = true;
      return;
    }
    reading = true;
    try {
      do {
        dirty = false;
        const order = await getOrder(deps, orderId, caller);
        if (order.version > lastVersion) {
          lastVersion = order.version;
          send(order);
        }
        if (isTerminal(order.status)) return finish();
      } while (dirty && !signal.aborted);
    } catch (err) {
      finish(err);
    } finally {
      reading = false;
    }
  };
  const unsubscribe = hub.subscribe(orderId, () => void refresh());
  const onAbort = () => finish();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal.aborted) return;
    await refresh();
    await finished;
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}
