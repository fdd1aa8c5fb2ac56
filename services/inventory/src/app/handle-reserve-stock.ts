import type { StockStore } from '../domain/ports';
import type { StockReply } from '../domain/stock';
import { decideReservation, replyToRepeatedReserve } from '../domain/stock';
import type { ItemInput } from '../domain/validation';

export interface ReserveStockCommand {
  orderId: string;
  items: ItemInput[];
}

/** All or nothing; a repeated command for a known order answers from the stored state (no double reservation). */
export async function handleReserveStock(store: StockStore, cmd: ReserveStockCommand): Promise<StockReply> {
  const existing = await store.lockOrder(cmd.orderId);
  if (existing) return replyToRepeatedReserve(existing);
  const onHand = await store.lockProducts(cmd.items.map((i) => i.sku));
  const decision = decideReservation(cmd.items, onHand);
  if (decision.kind === 'reject') {
    await store.insertOrder({
      orderId: cmd.orderId,
      status: 'REJECTED',
      rejectReason: decision.reason,
      unavailableSkus: decision.unavailableSkus,
    });
    return { kind: 'rejected', reason: decision.reason, unavailableSkus: decision.unavailableSkus };
  }
  await store.insertOrder({
    orderId: cmd.orderId,
    status: 'RESERVED',
    rejectReason: null,
    unavailableSkus: [],
  });
  await store.insertLines(
    cmd.orderId,
    cmd.items.map((i) => ({ sku: i.sku, quantity: i.quantity, status: 'RESERVED' as const })),
  );
  await store.adjustOnHand(cmd.items.map((i) => ({ sku: i.sku, delta: -i.quantity })));
  return { kind: 'reserved' };
}
