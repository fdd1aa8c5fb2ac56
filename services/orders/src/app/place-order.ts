import { createHash, randomUUID } from 'node:crypto';
import { runCommand, sampledTraceId } from '@shop/platform';
import { DomainError, validationFailed } from '../domain/errors';
import type { Order } from '../domain/order';
import { totalOf } from '../domain/order';
import { FIRST_STEP, SAGA } from '../domain/saga';
import type { PlaceOrderInput } from '../domain/validation';
import { normalizedPlaceOrder, validatePlaceOrder } from '../domain/validation';
import { claimIdempotencyKey, findIdempotencyKey, getOrder, insertOrder } from '../adapters/db/orders-repo';
import type { AppDeps } from './deps';
import { outboxMessages } from './messages';
import { quoteItems } from './placement-modes';

class KeyTaken extends Error {}

const hashOf = (input: PlaceOrderInput) =>
  createHash('sha256').update(normalizedPlaceOrder(input)).digest('hex');

async function replay(deps: AppDeps, input: PlaceOrderInput & { idempotencyKey: string }, hash: string) {
  const stored = await findIdempotencyKey(deps.pool, input.customerId, input.idempotencyKey);
  if (!stored) return undefined;
  if (stored.requestHash !== hash) {
    throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'idempotency key reused with a different request');
  }
  const order = await getOrder(deps.pool, stored.orderId);
  if (!order) throw new Error(`idempotency key points to missing order ${stored.orderId}`);
  return { order, replayed: true };
}

/**
 * PlaceOrder (issue 3): validate, price with inventory, then one transaction for the idempotency key, the order,
 * its saga and the first command and event. Nothing is stored when anything before the commit fails.
 */
export async function placeOrder(
  deps: AppDeps,
  input: PlaceOrderInput,
): Promise<{ order: Order; replayed: boolean }> {
  const violations = validatePlaceOrder(input);
  if (violations.length > 0) throw validationFailed(violations);
  const key = input.idempotencyKey;
  const hash = hashOf(input);
  if (key !== undefined) {
    const earlier = await replay(deps, { ...input, idempotencyKey: key }, hash);
    if (earlier) return earlier;
  }
  const quote = await quoteItems(deps, input.items);
  const now = new Date();
  const lines = quote.lines.map((l) => ({
    sku: l.sku,
    quantity: l.quantity,
    unitPriceCents: l.unitPriceCents,
  }));
  const order: Order = {
    id: randomUUID(),
    customerId: input.customerId,
    lines,
    totalCents: totalOf(lines),
    currency: quote.currency,
    status: 'PENDING',
    rejectionReason: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
    traceId: sampledTraceId() ?? null,
  };
  try {
    await runCommand(deps, async (tx, outbox) => {
      // The order with its saga in one statement; a key taken meanwhile rolls both back.
      await insertOrder(tx, order, {
        step: FIRST_STEP,
        deadline: new Date(now.getTime() + deps.stepTimeoutMs),
      });
      if (key !== undefined && !(await claimIdempotencyKey(tx, order.customerId, key, hash, order.id)))
        throw new KeyTaken();
      outbox.send(...outboxMessages([SAGA[0]!.command, 'OrderPlaced'], order));
    });
  } catch (err) {
    // A concurrent request with the same key committed first: answer as its replay (or as a misuse).
    if (err instanceof KeyTaken && key !== undefined) {
      const earlier = await replay(deps, { ...input, idempotencyKey: key }, hash);
      if (earlier) return earlier;
    }
    throw err;
  }
  deps.metrics.started.inc();
  return { order, replayed: false };
}
