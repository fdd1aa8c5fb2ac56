import { validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { isTerminal } from '../domain/order';
import { validateOrderId } from '../domain/validation';
import type { OrderChangeHub } from '../adapters/db/order-changes';
import { getSagaProgress } from '../adapters/db/orders-repo';
import type { CompensationStep, SagaStep } from '../domain/saga';
import { getOrder } from './get-order';
import type { AppDeps, Caller } from './deps';

/** One message of a watch: the order and where its saga is (undefined: no saga row). */
export interface OrderUpdate {
  order: Order;
  saga: { step: SagaStep; pending: CompensationStep[] } | undefined;
}

const sagaKey = (saga: OrderUpdate['saga']) => (saga ? `${saga.step}:${saga.pending.join(',')}` : '');

/**
 * Sends the current order and its saga, then every change of either (a newer order version, the saga's next step),
 * until the order is REJECTED or CANCELLED or `signal` aborts. Subscribes before the first read so that no change
 * between the read and the subscription is lost.
 */
export async function watchOrder(
  deps: Pick<AppDeps, 'pool'>,
  hub: OrderChangeHub,
  orderId: string,
  send: (update: OrderUpdate) => void,
  signal: AbortSignal,
  caller?: Caller,
): Promise<void> {
  const violations = validateOrderId(orderId);
  if (violations.length > 0) throw validationFailed(violations);
  let lastVersion = 0;
  let lastSaga: string | undefined;
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
        const saga = await getSagaProgress(deps.pool, orderId);
        if (order.version > lastVersion || sagaKey(saga) !== lastSaga) {
          lastVersion = Math.max(lastVersion, order.version);
          lastSaga = sagaKey(saga);
          send({ order, saga });
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
